"""No vocabulary entry the training stream never uses: every merged token of a prepared folder's tokenizer
occurs in its train stream, and so does every token that evaluation text (minimal pairs, GLUE) tokenizes to,
but the byte symbols of characters the train text never holds.

The counts here are made independently of the scorer and of the pruning code: each text is encoded with the
prepared folder's own tokenizer (add_special_tokens=False), a minimal-pair sentence split at "\\n" into
utterances, each one as <s> + its tokens, as scoring sees it."""
import json
import time
from itertools import chain
from pathlib import Path

import numpy as np
import pytest
from tokenizers import pre_tokenizers

from conftest import shared_data
from trainables.data.prepared import open_prepared, prepare
from trainables.data.tokenizer import (CHARACTER_SYMBOLS, build_bpe, bpe_parts, count_ids, fit_tokenizer,
                                       load_tokenizer, merge_outputs, prune_merges, train_bpe, truncate_merges)

BYTES = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)


def quiet(msg):
    pass


def encode(tok, texts):
    """Token ids of each text: the folder's tokenizer (its Rust backend, for speed), no special tokens."""
    return [e.ids for e in tok.backend_tokenizer.encode_batch(list(texts), add_special_tokens=False)]


def train_counts(folder):
    """Occurrences of each id in the train stream, counted twice: in the token cache, and by encoding
    text/train.txt here; they must agree (the cache is <s> + tokens + </s> per line)."""
    data = open_prepared(folder)
    tok = load_tokenizer(folder)
    lines = (Path(folder) / "text" / "train.txt").read_text(encoding="utf-8").splitlines()
    here = np.bincount(np.fromiter(chain.from_iterable(encode(tok, lines)), dtype=np.int64), minlength=len(tok))
    here[tok.bos_token_id] += len(lines)
    here[tok.eos_token_id] += len(lines)
    cache = np.bincount(np.asarray(data.tokens("train")), minlength=len(tok))
    assert np.array_equal(cache, here)
    return tok, lines, here


def first_merged_id(tok):
    return len(tok.all_special_ids) + 256


def pair_utterances(folder):
    """Every sentence of the minimal pairs (BLiMP's jsonl records) in `folder`, split into utterances."""
    out = []
    for path in sorted(Path(folder).glob("*.jsonl")):
        for line in path.open(encoding="utf-8"):
            record = json.loads(line)
            for key in ("sentence_good", "sentence_bad"):
                out += record[key].split("\n")
    assert out, folder
    return out


def glue_texts(folder):
    out = []
    for path in sorted(Path(folder).glob("*.jsonl")):
        for line in path.open(encoding="utf-8"):
            out += [v for v in json.loads(line).values() if isinstance(v, str)]
    assert out, folder
    return out


def check_evaluation_text(tok, train_lines, counts, texts, what, bos=False):
    """Every id `texts` tokenize to has a training count, but the byte symbols of characters that the train
    text never holds; those are reported."""
    used = np.bincount(np.fromiter(chain.from_iterable(encode(tok, texts)), dtype=np.int64), minlength=len(tok)) > 0
    if bos:
        used[tok.bos_token_id] = True
    unseen = np.flatnonzero(used & (counts == 0))
    novel = sorted(set("".join(texts)) - set("".join(train_lines)))
    allowed = {tok.convert_tokens_to_ids(symbol) for c in novel for symbol in BYTES.pre_tokenize_str(c)[0][0]}
    bad = [int(i) for i in unseen if int(i) not in allowed]
    assert not bad, (f"{what}: {len(bad)} token(s) never trained: {tok.convert_ids_to_tokens(bad[:30])}; "
                     f"characters absent from the train text: {novel[:40]}")
    # every unseen id is a byte symbol, from a character the train text lacks
    assert all(3 <= i < first_merged_id(tok) for i in unseen)
    return novel, tok.convert_ids_to_tokens([int(i) for i in unseen])


def check_train_stream(tok, counts):
    merged = counts[first_merged_id(tok):]
    unused = np.flatnonzero(merged == 0) + first_merged_id(tok)
    assert len(unused) == 0, f"merged tokens never in the train stream: {tok.convert_ids_to_tokens(unused[:30].tolist())}"
    assert counts[tok.eos_token_id] > 0 and counts[tok.bos_token_id] > 0


# ---- the built-in corpus ----

@pytest.fixture(scope="module")
def builtin(tmp_path_factory):
    from trainables.data.builtin_corpus import generate_corpus

    root = tmp_path_factory.mktemp("builtin")
    generate_corpus(root / "corpus", words=30_000, seed=0, pairs_per_paradigm=100)
    return root


@pytest.mark.parametrize("vocab_size", [400, 2000])
def test_builtin_corpus_tokenizer_has_no_untrained_entry(builtin, vocab_size):
    folder = builtin / f"p{vocab_size}"
    meta = prepare(builtin / "corpus", folder, vocab_size=vocab_size, seq_length=32, log=quiet)
    tok, lines, counts = train_counts(folder)
    assert len(tok) == meta["tokenizer"]["vocab_size"] <= vocab_size
    check_train_stream(tok, counts)
    novel, unseen = check_evaluation_text(tok, lines, counts, pair_utterances(builtin / "corpus" / "blimp"),
                                          "built-in minimal pairs", bos=True)
    assert novel == [] and unseen == []  # the pairs are made by the corpus's own grammar


# ---- the pruning on its own ----

def test_fitted_counts_are_the_counts_of_every_line(builtin):
    lines = [line for p in sorted((builtin / "corpus" / "train").glob("*.train"))
             for line in p.read_text().splitlines() if line.strip()]
    lines += ["a+b", "x <s> y </s>", "naïve café ’quoted’"]  # literal special tokens, a new byte, multi-byte chars
    fitted = fit_tokenizer(lines, 500)
    counts = count_ids(fitted.tokenizer, lines)
    assert np.array_equal(fitted.counts, counts)
    assert np.all(counts[fitted.first_merged_id:] > 0)
    # the ASCII characters of the text all have their byte symbols trained ("+" never stands alone otherwise)
    vocab = fitted.tokenizer.get_vocab()
    text = "".join(lines).replace("</s>", "").replace("<s>", "")  # special tokens are no text
    ascii_in_text = {s for c in set(text) if ord(c) < 128 for s in BYTES.pre_tokenize_str(c)[0][0]}
    assert ascii_in_text <= CHARACTER_SYMBOLS
    assert [s for s in ascii_in_text if counts[vocab[s]] == 0] == []
    # ids: <pad>, <s>, </s>, the 256 bytes, then the merged tokens in merge order
    spec = json.loads(fitted.tokenizer.to_str())
    base, merges = bpe_parts(spec)
    assert len(base) == 256 and [vocab[t] for t in ("<pad>", "<s>", "</s>")] == [0, 1, 2]
    assert [vocab[t] for t in merge_outputs(merges)] == list(range(259, len(vocab)))


def test_pruning_helpers():
    base = list("abcd")
    merges = [("a", "b"), ("ab", "c"), ("c", "d"), ("abc", "d"), ("a", "c"), ("cd", "a")]
    # dropping "ab" takes out everything built on it, transitively, and nothing else
    assert prune_merges(base, merges, {"ab"}) == [("c", "d"), ("a", "c"), ("cd", "a")]
    assert prune_merges(base, merges, set()) == merges
    assert truncate_merges(merges, 3) == merges[:3] and truncate_merges(merges, 10) == merges
    # a truncated list is still a BPE: the same text tokenizes to a prefix run of the longer list
    text = ["abcd abca cdab"] * 3 + ["ab cd"]
    full = train_bpe(text, 300)
    spec = json.loads(full.to_str())
    b, m = bpe_parts(spec)
    short = build_bpe(spec, b, truncate_merges(m, 5))
    assert short.get_vocab_size() == 3 + len(b) + 5
    assert short.decode(short.encode(text[0]).ids) == text[0]


# ---- babylm_2023_subset, BLiMP, its supplement, GLUE ----

@pytest.fixture(scope="module")
def subset16k(tmp_path_factory):
    root = shared_data("babylm_2023_subset")
    folder = tmp_path_factory.mktemp("subset") / "p"
    start = time.perf_counter()
    meta = prepare(root, folder, vocab_size=16_000, log=quiet)
    return folder, meta, time.perf_counter() - start


@pytest.mark.slow  # about 20 s on 2 cores: prepare at 16,000, then BLiMP, the supplement and GLUE encoded
def test_subset_tokenizer_has_no_untrained_entry(subset16k):
    folder, meta, _ = subset16k
    t = meta["tokenizer"]
    assert t["vocab_size"] == t["requested_vocab_size"] == 16_000 and "warning" not in t
    assert t["unused_before_pruning"] > 400 and t["pruned"] >= t["unused_before_pruning"]  # 574 and 741 measured
    tok, lines, counts = train_counts(folder)
    check_train_stream(tok, counts)
    for name in ("blimp_filtered", "supplement_filtered"):
        novel, unseen = check_evaluation_text(tok, lines, counts, pair_utterances(shared_data(name)), name, bos=True)
        assert novel == [] and unseen == [], name  # BLiMP holds no character the train text lacks
    novel, unseen = check_evaluation_text(tok, lines, counts, glue_texts(shared_data("glue_filtered")), "glue")
    assert "+" not in novel and len(novel) > 100  # GLUE has "a+b", and many characters BabyLM lacks
