"""The byte-level BPE tokenizer shared by every model of a sweep (BabyLlama-2: 16,000 entries,
trained on the train split only).

Ids: 0, 1, 2 are <pad>, <s>, </s>; then the 256 byte symbols; then the merged tokens in the order of their
merges. Every utterance is tokenized on its own (no prefix space), so its first word is always tokenized
the same way, in training and in scoring alike.

No entry the training stream never uses. BPE training leaves intermediates behind: once the merges built on
"omi" or "Ġlibr" exist, nothing in the train text tokenizes to "omi" or "Ġlibr" any more, so their embeddings
get no gradient in pretraining, yet an evaluation sentence can still tokenize to them, and the model then
scores tokens it never learned (a plain BPE of 16,000 trained on babylm_2023_subset has 574 such entries;
BLiMP and its supplement meet 15 + 8 of them). So `fit_tokenizer` trains the BPE with headroom (HEADROOM
times the requested size), takes its first merges up to the requested size (a prefix of a BPE merge list is
a valid BPE), counts every token in the tokenized train lines and, for each unused merged token, takes out
the merge that costs least and brings it back into use: the token built directly on it whose removal, with
everything built on that, takes the fewest occurrences away (those words now stop one merge earlier, at the
unused token), or, where nothing built on it is used, the unused token itself with all built on it. The
places freed are refilled with the next merges of the trained list, and it counts again until nothing is
unused, training a larger BPE if the headroom runs out; a corpus that cannot give the requested size keeps
what it has. The byte symbols of ASCII characters that the train text holds are brought into use the same
way ("+" when the text only ever has " +"); the other byte symbols stay, used or not: a byte-level BPE needs
all 256, and a byte found only inside multi-byte characters merges the same way in new text. Taking out
each unused token with everything built on it, the plain way, is simpler but dearer: on babylm_2023_subset
it makes the text 4% longer in tokens (this way 0.3%), and a closed vocabulary like the built-in corpus's,
where every word ends as one token and every intermediate is unused, falls from 1,214 entries to 298 at 3.5
tokens a word (this way about 830 at 1.6: no unused entry has a price there). Counting runs on the distinct
pre-tokenized words of the lines with their frequencies: the same counts as tokenizing every line, for a
fraction of the time per count.
"""
import hashlib
import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from ..errors import DataError

PAD, BOS, EOS = "<pad>", "<s>", "</s>"
SPECIAL_TOKENS = [PAD, BOS, EOS]
# ByteLevel BPE starts from the 256 byte symbols; the special tokens come on top of those
MIN_VOCAB_SIZE = 256 + len(SPECIAL_TOKENS)
HEADROOM = 1.25  # the BPE is trained this many times larger than requested (at least MIN_HEADROOM entries more)
MIN_HEADROOM = 64
# the byte symbols of the bytes that are characters on their own (ASCII): brought into use like merged tokens
CHARACTER_SYMBOLS = frozenset(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
                              .pre_tokenize_str(chr(b))[0][0] for b in range(128))
METHOD = "byte-level BPE, no unused entry"  # part of a prepared folder's settings key
RETRAIN_GROWTH = 1.5  # when the headroom runs out, the next BPE is this many times larger
ENCODE_CHUNK = 20_000  # lines per encode_batch call when counting
SPECIAL_RE = re.compile("|".join(map(re.escape, SPECIAL_TOKENS)))


def text_pieces(lines):
    """The lines as the tokenizer's model sees them: a special token written in the text ("<s>") is split
    out as that token before anything else, so the trainers get the pieces around it."""
    for line in lines:
        if "<" in line:
            yield from SPECIAL_RE.split(line)
        else:
            yield line


@dataclass
class FittedTokenizer:
    tokenizer: Tokenizer
    requested: int  # the vocabulary size asked for
    trained: int  # entries of the BPE trained with headroom (the last one, if a larger one was trained)
    unused_before: int  # merged entries unused in the train stream by the plain BPE of the requested size
    pruned: int  # merged entries of the trained BPE taken out to bring those into use (see the module docstring)
    passes: int  # times the train words were counted
    counts: np.ndarray  # occurrences of each id in the train lines, each tokenized alone without added specials
    exhausted: bool  # the trainer stopped short of its size: the corpus has no more distinct merges
    first_merged_id: int  # ids below are the special tokens and the byte symbols
    unused_bytes: int  # byte symbols left unused: bytes the lines never hold, or that sit only inside a merged
    #                    multi-byte character

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()


def train_bpe(lines, vocab_size, show_progress=False) -> Tokenizer:
    """The plain byte-level BPE trainer (no pruning): at most `vocab_size` entries."""
    tok = Tokenizer(models.BPE())
    # No prefix space: decode(encode(text)) gives the text back exactly
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,  # ids 0, 1, 2
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=show_progress,
    )
    tok.train_from_iterator(text_pieces(lines), trainer=trainer, length=len(lines))
    return tok


def train_tokenizer(lines, vocab_size=16_000, show_progress=False) -> Tokenizer:
    """The tokenizer of `fit_tokenizer`, alone."""
    return fit_tokenizer(lines, vocab_size, show_progress).tokenizer


def fit_tokenizer(lines, vocab_size=16_000, show_progress=False) -> FittedTokenizer:
    """A byte-level BPE of at most `vocab_size` entries in which every merged token, and the byte symbol of
    every ASCII character the lines hold, occurs in the tokenized `lines` (a list of utterances, each tokenized
    alone; see the module docstring)."""
    if vocab_size < MIN_VOCAB_SIZE:
        raise DataError(f"vocabulary size {vocab_size} is too small: a byte-level BPE needs at least "
                        f"{MIN_VOCAB_SIZE} (256 bytes + the special tokens {', '.join(SPECIAL_TOKENS)})")
    lines = list(lines)
    words = WordCounts.of(lines)
    size = max(math.ceil(vocab_size * HEADROOM), vocab_size + MIN_HEADROOM)
    passes = 0
    while True:
        trained = train_bpe(lines, size, show_progress)
        exhausted = trained.get_vocab_size() < size
        spec = json.loads(trained.to_str())
        base, merges = bpe_parts(spec)
        # the byte symbols to bring into use: ASCII characters that the lines hold
        in_text = {t: None for t in base if t in words.symbols and t in CHARACTER_SYMBOLS}
        target = vocab_size - len(SPECIAL_TOKENS) - len(base)  # merged tokens wanted
        drop, unused_before = set(), None
        candidate = truncate_merges(merges, target)
        while True:
            tok = build_bpe(spec, base, candidate)
            counts = words.count(tok)
            passes += 1
            count = {t: int(counts[tok.token_to_id(t)]) for t in chain(in_text, merge_outputs(candidate))}
            unused = [t for t, n in count.items() if n == 0]
            if unused_before is None:
                unused_before = sum(t not in in_text for t in unused)  # merged ones
            if not unused:
                break
            more = merges_to_drop(candidate, count, unused, keep=base) - drop
            assert more, f"no merge to take out brings {unused[:5]} into use"
            drop |= more
            candidate = truncate_merges(prune_merges(base, merges, drop), target)
        if len(merge_outputs(candidate)) >= target or exhausted:
            break
        size = math.ceil(size * RETRAIN_GROWTH)  # the pruning ate the headroom: prune a larger BPE
    pruned = len(merge_outputs(merges)) - len(merge_outputs(prune_merges(base, merges, drop)))
    return FittedTokenizer(tok, vocab_size, trained.get_vocab_size(), unused_before, pruned, passes, counts,
                           exhausted, len(SPECIAL_TOKENS) + len(base),
                           sum(int(counts[tok.token_to_id(t)] == 0) for t in base))


def merges_to_drop(merges, count, unused, keep=()) -> set:
    """For each unused token, the merged token to take out so that it comes back into use: of the tokens built
    directly on it, the one whose removal (with all built on it) takes away the fewest occurrences, counting
    only those whose removal takes some away; the unused token itself where there is none (unless in `keep`).
    `count` holds the occurrences of every merged token of `merges`, in rank order."""
    built_on = defaultdict(list)  # token -> tokens whose merge takes it as an input, in rank order
    for a, b in merges:
        built_on[a].append(a + b)
        if b != a:
            built_on[b].append(a + b)
    rank = {t: i for i, t in enumerate(count)}

    def cost(token):  # occurrences of the token and of everything built on it
        seen, stack = set(), [token]
        while stack:
            t = stack.pop()
            if t not in seen:
                seen.add(t)
                stack.extend(built_on.get(t, ()))
        return sum(count[t] for t in seen)

    drop = set()
    for token in unused:
        options = [(c, rank[t], t) for t in dict.fromkeys(built_on.get(token, ())) if (c := cost(t)) > 0]
        if options:
            drop.add(min(options)[2])
        elif token not in keep:
            drop.add(token)
    return drop


@dataclass
class WordCounts:
    """The distinct pre-tokens (words, in the byte-level alphabet) of some lines, with their frequencies, and
    the special tokens written literally in them. A BPE tokenizes each word on its own, so counting tokens
    word by word gives what tokenizing every line would."""
    words: list
    freq: np.ndarray
    specials: np.ndarray  # occurrences of ids 0, 1, 2 (a line holding "<s>" as text)
    symbols: set  # the byte symbols the words are made of

    @classmethod
    def of(cls, lines):
        wl = Tokenizer(models.WordLevel(unk_token=None))
        wl.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        # the same special tokens, so that text holding them splits as it does in the real tokenizer
        trainer = trainers.WordLevelTrainer(vocab_size=2**31 - 1, min_frequency=0, special_tokens=SPECIAL_TOKENS,
                                            show_progress=False)
        wl.train_from_iterator(text_pieces(lines), trainer=trainer, length=len(lines))
        freq = count_ids(wl, lines)
        words = [None] * wl.get_vocab_size()
        for word, i in wl.get_vocab().items():
            words[i] = word
        n = len(SPECIAL_TOKENS)
        assert words[:n] == SPECIAL_TOKENS
        return cls(words[n:], freq[n:], freq[:n], set(chain.from_iterable(words[n:])))

    def count(self, bpe: Tokenizer) -> np.ndarray:
        """How often each id of `bpe` occurs in the lines, each tokenized alone without added specials."""
        bare = Tokenizer.from_str(bpe.to_str())
        bare.pre_tokenizer = None  # the words are pre-tokenized already
        encodings = bare.encode_batch(self.words, add_special_tokens=False)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        ids = np.fromiter(chain.from_iterable(e.ids for e in encodings), dtype=np.int64, count=int(lengths.sum()))
        counts = np.bincount(ids, weights=np.repeat(self.freq, lengths), minlength=bpe.get_vocab_size())
        counts = np.rint(counts).astype(np.int64)
        counts[:len(self.specials)] += self.specials
        return counts


def bpe_parts(spec):
    """(base symbols in id order, merges as (left, right) pairs in rank order) of a BPE tokenizer's JSON."""
    model = spec["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in model["merges"]]
    outputs = {a + b for a, b in merges}
    base = [t for t, _ in sorted(model["vocab"].items(), key=lambda kv: kv[1])
            if t not in outputs and t not in SPECIAL_TOKENS]
    return base, merges


def merge_outputs(merges) -> list:
    """The merged tokens, each once, in the order of their first merge."""
    return list(dict.fromkeys(a + b for a, b in merges))


def prune_merges(base, merges, drop) -> list:
    """`merges` without those making a token of `drop` and, transitively, those taking an input that no
    kept merge makes. Walking in rank order does it: a merge's inputs are made before it."""
    present = set(base)
    kept = []
    for a, b in merges:
        if a in present and b in present and a + b not in drop:
            kept.append((a, b))
            present.add(a + b)
    return kept


def truncate_merges(merges, target) -> list:
    """The longest prefix of `merges` making at most `target` distinct tokens."""
    seen = set()
    for i, (a, b) in enumerate(merges):
        seen.add(a + b)
        if len(seen) > target:
            return merges[:i]
    return list(merges)


def build_bpe(spec, base, merges) -> Tokenizer:
    """The tokenizer of `spec` with these merges, renumbered: special tokens, `base`, merged tokens in order."""
    vocab = {t: i for i, t in enumerate(SPECIAL_TOKENS + base + merge_outputs(merges))}
    assert all(vocab[added["content"]] == added["id"] for added in spec.get("added_tokens", []))
    old = spec["model"]["merges"]
    as_strings = bool(old) and isinstance(old[0], str)  # the older tokenizer.json form: "a b"
    model = dict(spec["model"], vocab=vocab, merges=[f"{a} {b}" if as_strings else [a, b] for a, b in merges])
    return Tokenizer.from_str(json.dumps(dict(spec, model=model)))


def count_ids(tok: Tokenizer, lines) -> np.ndarray:
    """How often each id occurs in `lines`, each tokenized alone without added special tokens."""
    counts = np.zeros(tok.get_vocab_size(), dtype=np.int64)
    for i in range(0, len(lines), ENCODE_CHUNK):
        encodings = tok.encode_batch(lines[i:i + ENCODE_CHUNK], add_special_tokens=False)
        ids = np.fromiter(chain.from_iterable(e.ids for e in encodings), dtype=np.int64)
        counts += np.bincount(ids, minlength=len(counts))
    return counts


def save_tokenizer(tok: Tokenizer, folder: Path) -> None:
    """tokenizer.json plus the transformers config, so AutoTokenizer.from_pretrained(folder) works."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD)
    fast.save_pretrained(str(folder))


def load_tokenizer(folder):
    """The tokenizer of a prepared folder or a checkpoint, as a transformers fast tokenizer."""
    from transformers import PreTrainedTokenizerFast

    path = Path(folder) / "tokenizer.json"
    read_tokenizer_file(path)  # a one-line DataError for a file that does not parse, before transformers reads it
    return PreTrainedTokenizerFast(tokenizer_file=str(path), bos_token=BOS, eos_token=EOS, pad_token=PAD)


def read_tokenizer_file(path) -> Tokenizer:
    """The tokenizer saved as `path` (a tokenizer.json); DataError (one line naming the file) when there is none or
    it does not parse as one."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no tokenizer here")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as e:  # the tokenizers library raises the bare Exception for any file it cannot read
        text = str(e).strip()
        raise DataError(f"{path}: not a readable tokenizer ({text.splitlines()[0] if text else type(e).__name__})"
                        ) from None


def tokenizer_hash(folder) -> str:
    """Identity of a tokenizer: the hash of its vocabulary and merges, not of the file's formatting."""
    tok = read_tokenizer_file(Path(folder) / "tokenizer.json")
    return hashlib.sha256(tok.to_str().encode()).hexdigest()
