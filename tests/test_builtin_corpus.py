"""The built-in corpus generator: deterministic output in the BabyLM layout, word budgets, minimal pairs that
a grammar-blind model cannot win, EWoK-format items, no evaluation sentence in the corpus, agreement that holds
across the corpus, and safe writing. Real generation
and a real (untrained) transformers model throughout, no mocks."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.blimp import load_suite
from analysis.ewok import load_ewok
from trainables.data.builtin_corpus import (DEFAULT_WORDS, DOMAINS, GENERATOR, MIN_EVAL_WORDS, VERSION, generate_corpus,
                                           lexicon)
from trainables.errors import DataError

REPO = Path(__file__).resolve().parents[1]
SMALL = dict(words=20_000, seed=0, pairs_per_paradigm=200)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("bc") / "corpus"
    return out, generate_corpus(out, **SMALL)


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    """Enough text for most sentence frames of the pairs to turn up in the corpus."""
    out = tmp_path_factory.mktemp("bc") / "corpus"
    generate_corpus(out, words=300_000, seed=1, pairs_per_paradigm=250)
    return out


def all_files(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def train_lines(root):
    return [line for f in sorted((root / "train").glob("*.train")) for line in f.read_text("utf-8").splitlines()]


def sentences(line):
    """The sentences of one line: the speaker tag goes, each ends at . ? or !"""
    words, out = line.split("\t", 1)[-1].split(), []
    start = 0
    for i, w in enumerate(words):
        if w in (".", "?", "!"):
            out.append(" ".join(words[start:i + 1]))
            start = i + 1
    assert start == len(words), f"unterminated sentence in {line!r}"
    return out


def all_pairs(root):
    """{UID: [Pair(good, bad, paradigm, pair_id)]}, read by the BLiMP scorer's own reader: any line it would
    skip fails the test."""
    return load_suite(root / "blimp", strict=True)[0]


# -----------------------------------------------------------------------------
# determinism and layout


def test_same_arguments_give_the_same_bytes_in_another_process(small, tmp_path):
    out, _ = small
    # another interpreter with another str-hash seed: set or dict order of strings must not leak into the output
    code = ("import sys; from trainables.data.builtin_corpus import generate_corpus; "
            f"generate_corpus(sys.argv[1], words={SMALL['words']}, seed={SMALL['seed']}, "
            f"pairs_per_paradigm={SMALL['pairs_per_paradigm']})")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "again")], cwd=REPO, env=env, check=True)
    mine, theirs = all_files(out), all_files(tmp_path / "again")
    assert sorted(mine) == sorted(theirs)
    for name in mine:
        assert mine[name] == theirs[name], f"{name} differs between two runs with the same arguments"


def test_another_seed_gives_other_text(small, tmp_path):
    out, _ = small
    generate_corpus(tmp_path / "seed1", **{**SMALL, "seed": 1})
    for split in ("train", "dev", "test"):
        for domain in DOMAINS:
            a = (out / split / f"{domain}.{split}").read_bytes()
            b = (tmp_path / "seed1" / split / f"{domain}.{split}").read_bytes()
            assert a != b
    assert all_pairs(out) != all_pairs(tmp_path / "seed1")


def test_layout_and_word_budget(small):
    out, summary = small
    assert summary["out_dir"] == str(out) and summary["seed"] == 0
    assert set(summary["words"]) == {"train", "dev", "test"}
    for split, budget in (("train", SMALL["words"]), ("dev", MIN_EVAL_WORDS), ("test", MIN_EVAL_WORDS)):
        files = sorted(p.name for p in (out / split).iterdir())
        assert files == sorted(f"{d}.{split}" for d in DOMAINS)
        counted = {d: sum(len(line.split()) for line in (out / split / f"{d}.{split}").read_text("utf-8").splitlines())
                   for d in DOMAINS}
        assert counted == summary["words"][split]  # the summary counts what is in the files
        assert abs(sum(counted.values()) - budget) <= 0.02 * budget, (split, counted)
        assert min(counted.values()) > 0.15 * budget  # every domain has a real share
    # the record on disk says what this is
    record = json.loads((out / "corpus.json").read_text())
    assert record["generator"] == GENERATOR and record["seed"] == 0 and record["words_requested"] == 20_000
    assert record["words"] == summary["words"] and record["paradigms"] == summary["paradigms"]
    assert "seed=0" in (out / "README.md").read_text()


def test_eval_splits_are_a_tenth_of_train_when_that_is_large(tmp_path):
    summary = generate_corpus(tmp_path / "c", words=120_000, seed=3, pairs_per_paradigm=200)
    for split in ("dev", "test"):
        assert abs(sum(summary["words"][split].values()) - 12_000) <= 240


def test_domains_differ_in_style(small):
    out, _ = small
    text = {d: (out / "train" / f"{d}.train").read_text("utf-8").splitlines() for d in DOMAINS}
    mean_words = {d: sum(len(line.split()) for line in ls) / len(ls) for d, ls in text.items()}
    assert mean_words["child_directed_speech"] < 7 < 20 < mean_words["stories"]  # short utterances, paragraphs
    assert all(line.startswith(("A:\t", "B:\t")) for line in text["dialogue"])  # switchboard's layout
    assert not any("\t" in line for line in text["child_directed_speech"] + text["stories"])
    questions = {d: sum(line.endswith("?") for line in ls) / len(ls) for d, ls in text.items()}
    assert questions["child_directed_speech"] > 0.2 and questions["stories"] == 0
    past = {d: sum(w in ("was", "were", "ran", "saw", "ate") for line in ls for w in line.split())
            for d, ls in text.items()}
    assert past["stories"] > past["child_directed_speech"]


# -----------------------------------------------------------------------------
# minimal pairs


def test_pair_files(small):
    out, summary = small
    pairs = all_pairs(out)
    assert len(pairs) >= 8 and summary["paradigms"] == {uid: len(ps) for uid, ps in pairs.items()}
    for uid, paradigm in pairs.items():
        assert len(paradigm) == SMALL["pairs_per_paradigm"]
        seen = set()
        for p in paradigm:
            good, bad = p.good.split(), p.bad.split()
            assert len(good) == len(bad) and good != bad
            assert sum(g != b for g, b in zip(good, bad)) == 1, p  # one word swapped, nothing else
            assert (p.good, p.bad) not in seen
            seen.add((p.good, p.bad))
        # every line also has BLiMP's other keys, which a Pair does not carry
        records = [json.loads(line) for line in (out / "blimp" / f"{uid}.jsonl").read_text("utf-8").splitlines()]
        assert [r["pair_id"] for r in records] == list(range(len(records)))
        for r in records:
            assert set(r) >= {"sentence_good", "sentence_bad", "field", "linguistics_term", "UID", "pair_id"}
            assert r["UID"] == uid and r["field"] in ("morphology", "syntax", "semantics")


def test_ewok_items(small):
    out, summary = small
    domains = load_ewok(out / "ewok", strict=True)[0]  # read by the EWoK scorer's own reader
    assert list(domains) == ["agent-properties", "physical-relations", "spatial-relations"]
    assert summary["ewok"] == {d: 100 for d in domains}
    assert json.loads((out / "corpus.json").read_text())["ewok"] == summary["ewok"]
    for domain, items in domains.items():
        records = [json.loads(line) for line in (out / "ewok" / f"{domain}.jsonl").read_text("utf-8").splitlines()]
        assert [r["item_id"] for r in records] == list(range(100)) and {r["Domain"] for r in records} == {domain}
        assert len({i.context for i in items}) == 100  # distinct
        for i in items:
            one, two = i.target1.split(), i.target2.split()
            assert i.target1 != i.target2 and one[-1] == two[-1] == "." and i.context.endswith(" .")
            if domain == "agent-properties":  # one noun phrase differs: who has the feeling
                assert one[-3:] == two[-3:] and {one[-4], two[-4]} <= set(i.context.split())
            else:  # one word differs, the one tested (where the concept is), and the context has neither
                differ = [k for k, (a, b) in enumerate(zip(one, two)) if a != b]
                assert len(one) == len(two) and len(differ) == 1 and {one[differ[0]], two[differ[0]]}.isdisjoint(
                    i.context.split())
    assert "ewok/agent-properties.jsonl" in (out / "README.md").read_text() or \
        "`agent-properties`: 100 items" in (out / "README.md").read_text()


def copied_words(context: str, target: str) -> int:
    """A model that copies its context: how many of the target's first words restart the context word for word."""
    n = 0
    for a, b in zip(context.split(), target.split()):
        if a != b:
            break
        n += 1
    return n


def test_a_model_that_copies_its_context_scores_chance_on_the_built_in_ewok(small):
    # the earlier items' wrong target repeated the context's order: this scorer got spatial-relations 0 of 100
    out, _ = small
    for domain, items in load_ewok(out / "ewok", strict=True)[0].items():
        right = [copied_words(i.context, i.target1) - copied_words(i.context, i.target2) for i in items]
        accuracy = (sum(r > 0 for r in right) + 0.5 * sum(r == 0 for r in right)) / len(right)
        assert 0.4 <= accuracy <= 0.6, (domain, accuracy)
        # and word frequency alone: each tested word is right about as often as it is wrong
        tested = [(set(i.target1.split()) - set(i.target2.split())).pop() for i in items]
        wrongs = [(set(i.target2.split()) - set(i.target1.split())).pop() for i in items]
        if domain != "agent-properties":  # there the tested words are the two concepts, different in each item
            for word in set(tested):
                assert 0.3 <= tested.count(word) / (tested.count(word) + wrongs.count(word)) <= 0.7, (domain, word)


def test_no_evaluation_sentence_is_in_the_corpus(small):
    out, _ = small
    pair_sentences = {s for ps in all_pairs(out).values() for p in ps for s in (p.good, p.bad)}
    pair_sentences |= {s for items in load_ewok(out / "ewok")[0].values() for i in items
                       for s in (i.context, i.target1, i.target2)}
    for split in ("train", "dev", "test"):
        for f in sorted((out / split).iterdir()):
            for line in f.read_text("utf-8").splitlines():
                assert line.split("\t", 1)[-1] not in pair_sentences, (f, line)
                for s in sentences(line):
                    assert s not in pair_sentences, (f, s)
    # the generator really met pair sentences and dropped them, and never met a bad one
    rejected = json.loads((out / "corpus.json").read_text())["rejected_corpus_sentences"]
    assert rejected["bad"] == 0


def test_contrasted_words_are_balanced(small):
    """Twins swap the contrasted words, so each word is as often in the good sentence as in the bad one."""
    out, _ = small
    for uid, paradigm in all_pairs(out).items():
        in_good, in_bad = {}, {}
        for p in paradigm:
            for g, b in zip(p.good.split(), p.bad.split()):
                if g != b:
                    in_good[g] = in_good.get(g, 0) + 1
                    in_bad[b] = in_bad.get(b, 0) + 1
        assert in_good == in_bad, uid


# -----------------------------------------------------------------------------
# the grammar: agreement holds everywhere, and the pairs come from the same grammar as the corpus

def _categories():
    """word -> category; a word of two categories (hurt: base and past) stands for itself."""
    pairs = [(n.sg, f"N_sg_{n.gender}") for n in lexicon.NOUNS] + [(n.pl, f"N_pl_{n.gender}") for n in lexicon.NOUNS]
    pairs += [(w, f"V_{form}") for v in lexicon.VERBS for form, w in zip(("base", "s", "past", "ing"), v[:4])
              if w != "-"]
    pairs += [(a, "ADJ") for a, _ in lexicon.ADJECTIVES] + [(n, f"NAME_{g}") for n, g in lexicon.NAMES]
    pairs += [(p, "PLACE") for p, _ in lexicon.PLACES] + [(w, "DET_SG") for w in ("a", "an", "this")]
    pairs += [(w, "DET_PL") for w in ("these", "those", "some", "two", "three")]
    pairs += [(w, "DET") for w in ("the", "my", "your", "our", "his", "their")]  # not her, that: ambiguous
    out = {}
    for w, c in pairs:
        out[w] = c if out.get(w, c) == c else w
    return out


CATEGORY = _categories()
REFLEXIVES = {"myself", "yourself", "himself", "herself", "itself", "ourselves", "themselves"}
SG = {n.sg for n in lexicon.NOUNS}
PL = {n.pl for n in lexicon.NOUNS}
ADJ = {a for a, _ in lexicon.ADJECTIVES}
THIRD_SG = {v.s for v in lexicon.VERBS}
BASE = {v.base for v in lexicon.VERBS} - {v.past for v in lexicon.VERBS}


def shape(sentence):
    """The sentence with content words replaced by their category; gender only counts next to a reflexive."""
    words = sentence.split()
    gendered = any(w in REFLEXIVES for w in words)
    out = []
    for w in words:
        c = CATEGORY.get(w, w)
        out.append(c if gendered or not c.startswith("N_") else c[:4])
    return " ".join(out)


def coarse_shape(sentence):
    """The shape without adjectives and with one kind of determiner: the sentence frame."""
    return " ".join("DET" if c.startswith("DET") else c for c in shape(sentence).split() if c != "ADJ")


def test_pairs_come_from_the_corpus_grammar(large):
    """No bad sentence has a shape the corpus shows; the good ones have frames the corpus shows."""
    corpus = [s for line in train_lines(large) for s in sentences(line)]
    shapes, frames = {shape(s) for s in corpus}, {coarse_shape(s) for s in corpus}
    found = {}
    for uid, paradigm in all_pairs(large).items():
        bad = [p.bad for p in paradigm if shape(p.bad) in shapes]
        assert not bad, f"{uid}: the corpus has sentences shaped like the bad {bad[:3]}"
        found[uid] = sum(coarse_shape(p.good) in frames for p in paradigm) / len(paradigm)
    # frames with a modifier or a time adverb are rarer: not all of them turn up in 300k words
    assert min(found.values()) >= 0.5 and sum(found.values()) / len(found) >= 0.85, found


BE = {"am", "is", "are", "was", "were"}
SUBJECT_BE = {"i": ("am", "was"), "you": ("are", "were"), "he": ("is", "was"), "she": ("is", "was"),
              "it": ("is", "was"), "we": ("are", "were"), "they": ("are", "were")}


def skip_adjectives(words, i):
    while words[i] in ADJ:
        i += 1
    return i


def test_agreement_holds_in_the_corpus(small):
    n_checked = dict.fromkeys(["det", "a_an", "subject_verb", "copula", "aux", "reflexive", "tense"], 0)
    for line in train_lines(small[0]):
        for s in sentences(line):
            w = s.split()
            for i, word in enumerate(w[:-1]):
                j = skip_adjectives(w, i + 1)
                if word in ("these", "those"):  # these (big) dogs / these are ...
                    assert w[j] in PL or w[j] in ("are", "were"), s
                    n_checked["det"] += 1
                if word in ("this", "a", "an", "two", "three"):
                    wanted = SG | {"time"} if word in ("a", "an") else (SG | {"is", "was"} if word == "this" else PL)
                    assert w[j] in wanted, s  # "time": once upon a time
                    n_checked["det"] += 1
                if word in ("a", "an"):
                    assert (word == "an") == (w[i + 1][0] in "aeiou"), s
                    n_checked["a_an"] += 1
            # subject-verb: "the dog runs", "he runs", "they run" at the start of a statement
            j = skip_adjectives(w, 1)
            if w[0] in ("the", "my", "your") and (w[j] in SG or w[j] in PL) and w[j + 1] in THIRD_SG | BASE:
                assert (w[j] in SG) == (w[j + 1] in THIRD_SG), s
                n_checked["subject_verb"] += 1
            if len(w) > 1 and w[0] in ("he", "she", "it", "i", "we", "they") and w[1] in THIRD_SG | BASE:
                assert (w[0] in ("he", "she", "it")) == (w[1] in THIRD_SG), s
                n_checked["subject_verb"] += 1
            # the dog is / the dogs were / i am / you were
            if w[0] in ("the", "my", "your") and (w[j] in SG or w[j] in PL) and w[j + 1] in BE:
                assert w[j + 1] in (("is", "was") if w[j] in SG else ("are", "were")), s
                n_checked["copula"] += 1
            if w[0] in SUBJECT_BE and w[1] in BE:
                assert w[1] in SUBJECT_BE[w[0]], s
                n_checked["copula"] += 1
            # does the dog ... ? / do the dogs ... ?
            if w[0] in ("does", "do") and w[1] == "the":
                assert (w[0] == "does") == (w[skip_adjectives(w, 2)] in SG), s
                n_checked["aux"] += 1
            # he saw himself / the girls saw themselves
            if len(w) == 4 and w[2] in REFLEXIVES:
                want = {"he": "himself", "she": "herself", "it": "itself", "i": "myself", "you": "yourself",
                        "we": "ourselves", "they": "themselves"}.get(w[0])
                if want:
                    assert w[2] == want, s
                    n_checked["reflexive"] += 1
            if len(w) == 5 and w[3] in REFLEXIVES and w[0] == "the":
                noun = next(n for n in lexicon.NOUNS if w[1] in (n.sg, n.pl))
                want = "themselves" if w[1] == noun.pl else {"m": "himself", "f": "herself", "n": "itself"}[noun.gender]
                assert w[3] == want, s
                n_checked["reflexive"] += 1
            # yesterday goes with the past, tomorrow with will
            if "tomorrow" in w:
                assert "will" in w, s
                n_checked["tense"] += 1
            if "yesterday" in w:
                assert "will" not in w and not any(x in THIRD_SG | {"is", "are", "am", "does", "do"} for x in w), s
                n_checked["tense"] += 1
    assert min(n_checked.values()) >= 20, n_checked  # each check really ran


# -----------------------------------------------------------------------------
# a model that knows nothing scores near chance


def test_untrained_model_scores_near_chance(small):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import ByteLevelBPETokenizer

    out, _ = small
    torch.set_num_threads(2)
    tok = ByteLevelBPETokenizer()
    tok.train([str(p) for p in sorted((out / "train").glob("*.train"))], vocab_size=2000,
              special_tokens=["<pad>", "<s>", "</s>"], show_progress=False)
    pad, bos = tok.token_to_id("<pad>"), tok.token_to_id("<s>")
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=64, num_hidden_layers=2,
                                      num_attention_heads=2, num_key_value_heads=2, intermediate_size=128,
                                      max_position_embeddings=128, pad_token_id=pad, bos_token_id=bos)
    model = transformers.LlamaForCausalLM(config).eval()

    def logprobs(texts):
        """Summed log-probability of each text's tokens after <s>."""
        ids = [[bos] + e.ids for e in tok.encode_batch(texts)]
        width = max(map(len, ids))
        x = torch.tensor([i + [pad] * (width - len(i)) for i in ids])
        mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids])
        with torch.no_grad():
            logp = model(input_ids=x, attention_mask=mask).logits[:, :-1].log_softmax(-1)
        token_logp = logp.gather(-1, x[:, 1:, None])[..., 0] * mask[:, 1:]
        return token_logp.sum(-1).tolist()

    accuracy = {}
    for uid, paradigm in all_pairs(out).items():
        good = logprobs([p.good for p in paradigm])
        bad = logprobs([p.bad for p in paradigm])
        accuracy[uid] = sum(g > b for g, b in zip(good, bad)) / len(paradigm)
    mean = sum(accuracy.values()) / len(accuracy)
    print(f"untrained accuracy: mean {mean:.3f}", {k: round(v, 3) for k, v in accuracy.items()})
    assert 0.35 <= mean <= 0.65, accuracy
    assert all(0.15 <= a <= 0.85 for a in accuracy.values()), accuracy


# -----------------------------------------------------------------------------
# writing: refuse foreign folders, idempotent, never half-written


def test_refuses_a_folder_with_other_files(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match=str(out)):
        generate_corpus(out, **SMALL)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no temporary folder left behind


def test_same_parameters_again_is_a_no_op_and_other_parameters_are_refused(small):
    out, summary = small
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    assert generate_corpus(out, **SMALL) == summary
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    with pytest.raises(DataError, match="seed=0"):
        generate_corpus(out, **{**SMALL, "seed": 7})
    with pytest.raises(DataError, match="choose another folder"):
        generate_corpus(out, **{**SMALL, "words": 30_000})


def test_damaged_output_is_reported(tmp_path):
    out = tmp_path / "c"
    generate_corpus(out, **SMALL)
    victim = out / "train" / "stories.train"
    victim.write_text(victim.read_text()[:1000])
    with pytest.raises(DataError, match="stories.train"):
        generate_corpus(out, **SMALL)


def test_empty_folder_is_filled(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    summary = generate_corpus(out, **SMALL)
    assert (out / "corpus.json").is_file() and sum(summary["words"]["train"].values()) > 19_000


def test_crash_leaves_nothing_and_progress_is_reported(tmp_path):
    calls = []

    def crash(done, total):
        calls.append((done, total))
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate_corpus(tmp_path / "c", words=60_000, seed=0, pairs_per_paradigm=200, progress=crash)
    assert list(tmp_path.iterdir()) == []

    calls.clear()
    generate_corpus(tmp_path / "c", words=60_000, seed=0, pairs_per_paradigm=200,
                    progress=lambda done, total: calls.append((done, total)))
    total = 60_000 + 2 * 6_000
    assert len(calls) >= 3 and all(t == total for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and calls[-1] == (total, total)


def test_bad_arguments(tmp_path, capsys):
    with pytest.raises(DataError, match="--words: must be a positive integer"):
        generate_corpus(tmp_path / "c", words=0)
    with pytest.raises(DataError, match="pairs_per_paradigm: must be a positive integer"):
        generate_corpus(tmp_path / "c", words=1000, pairs_per_paradigm=0)
    with pytest.raises(DataError, match="ewok_items_per_domain: must be a positive integer"):
        generate_corpus(tmp_path / "c", words=1000, ewok_items_per_domain=0)
    assert not (tmp_path / "c").exists()
    from babysweep.cli import main
    assert main(["data", "generate", "--out", str(tmp_path / "c"), "--words", "0", "--quiet"]) == 2
    errors = [l for l in capsys.readouterr().err.splitlines() if l.startswith("babysweep: error")]
    assert errors == ["babysweep: error: --words: must be a positive integer, got 0"]
    assert DEFAULT_WORDS == 1_000_000


def test_a_folder_of_an_older_generator_version_is_named_as_such(small, tmp_path):
    import shutil

    out, _ = small
    old = tmp_path / "old"
    shutil.copytree(out, old)
    record = json.loads((old / "corpus.json").read_text())
    (old / "corpus.json").write_text(json.dumps(dict(record, version=1)))
    with pytest.raises(DataError) as e:
        generate_corpus(old, **SMALL)
    assert f"generator version 1, and this is version {VERSION}" in str(e.value) and f"delete {old}" in str(e.value)


def test_generate_prints_both_evaluation_folders(tmp_path, capsys):
    from babysweep.cli import main

    assert main(["data", "generate", "--out", str(tmp_path / "c"), "--words", "3000", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"pairs in {tmp_path / 'c'}/blimp (suite builtin_pairs" in out
    assert f"EWoK-format items: 3 domains, 300 items in {tmp_path / 'c'}/ewok" in out
