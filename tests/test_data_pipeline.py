"""The data pipeline on real files: BabyLM reader, line split (tail and random), tokenizer, token cache and
its <s> … </s> stream, old prepared folders, bad input."""
import hashlib
import json
import os
import shutil
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, shared_data
from babysweep.cli import main
from trainables.data import babylm
from trainables.errors import DataError
from trainables.data.prepared import eval_block_starts, open_prepared, prepare, read_meta, train_block_starts
from trainables.data.tokenizer import load_tokenizer, train_tokenizer

WORDS = "the a dog dogs cat cats girl boy sees see runs run big small red ball on under".split()


def write_corpus(root: Path, domains=("alpha", "beta"), lines=400, seed=0):
    rng = random.Random(seed)
    for split, suffix, n in (("train", "train", lines), ("dev", "dev", lines // 4)):
        (root / split).mkdir(parents=True, exist_ok=True)
        for d in domains:
            text = "".join(" ".join(rng.choices(WORDS, k=rng.randint(2, 12))) + " .\n" for _ in range(n))
            (root / split / f"{d}.{suffix}").write_text(text)
    return root


def quiet(msg):
    pass


def old_random_split(domains, valid_fraction=0.05, valid_words=None, seed=0):
    """babysweep's split before --valid-split (commit 852ec44), verbatim but for the error checks: the
    reference `--valid-split random` must reproduce."""
    total = sum(d.words for d in domains)
    fraction = valid_words / total if valid_words is not None else valid_fraction
    out = {}
    for d in domains:
        budget = round(d.words * fraction)
        rng = random.Random(f"{seed}:{d.name}")
        order = list(range(len(d.lines)))
        rng.shuffle(order)
        taken, words = [], 0
        for i in order:
            if words >= budget:
                break
            taken.append(i)
            words += len(d.lines[i].split())
        chosen = set(taken)
        train = [line for i, line in enumerate(d.lines) if i not in chosen]
        valid = [d.lines[i] for i in sorted(taken)]
        out[d.name] = (train, valid)
    return out


def assert_tail_split(domains, parts, fraction):
    """Each domain's validation lines are the shortest tail of its file reaching its word budget."""
    for d in domains:
        train, valid = parts[d.name]
        assert valid and train + valid == d.lines, d.name  # the file's non-blank lines, in order
        assert valid == d.lines[len(d.lines) - len(valid):]
        budget = round(d.words * fraction)
        assert babylm.count_words(valid) >= budget > babylm.count_words(valid[1:]), d.name


def stream_of(tok, lines, eos=True):
    """The token stream the cache must hold: <s> + tokens (+ </s>) per line, encoded here independently."""
    out = []
    for line in lines:
        out += [1] + tok.encode(line, add_special_tokens=False) + ([2] if eos else [])
    return np.array(out)


def split_text(folder, split):
    return (Path(folder) / "text" / f"{split}.txt").read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = write_corpus(tmp_path_factory.mktemp("corpus"))
    out = tmp_path_factory.mktemp("prep") / "p"
    meta = prepare(root, out, vocab_size=300, seq_length=16, log=quiet)
    return root, out, meta


# ---- real BabyLM files ----

def test_reads_real_babylm_layout():
    root = shared_data("babylm_2023_subset")
    train = babylm.read_folder(root / "train", babylm.SPLIT_SUFFIXES["train"])
    test = babylm.read_folder(root / "dev", babylm.SPLIT_SUFFIXES["test"])
    assert [d.name for d in train] == ["aochildes", "cbt", "children_stories", "switchboard"]
    assert [d.name for d in test] == [d.name for d in train]
    switchboard = train[-1]
    raw = (root / "train" / "switchboard.train").read_text(encoding="utf-8").splitlines()
    assert switchboard.lines == [line for line in raw if line.strip()]
    # word counts are whitespace words, as `wc -w` counts them
    assert 100_000 < switchboard.words < 130_000
    assert all(d.replaced == 0 for d in train + test)


@pytest.mark.slow  # prepares the real BabyLM subset, a tokenizer trained on it: ~12 s
def test_prepare_real_subset(tmp_path):
    root = shared_data("babylm_2023_subset")
    meta = prepare(root, tmp_path / "p", vocab_size=2000, log=quiet)
    s = meta["splits"]
    total = s["train"]["words"] + s["validation"]["words"]
    assert abs(s["validation"]["words"] / total - 0.05) < 0.001
    assert s["test"]["words"] == sum(d.words for d in babylm.read_folder(root / "dev", (".dev",)))
    assert meta["tokenizer"]["vocab_size"] == 2000 and meta["dtype"] == "uint16"
    assert meta["split"]["valid_split"] == "tail" and meta["stream"] == "bos_eos"
    # tail: each domain's validation lines are the last lines of its file, train the others, both in order
    domains = babylm.read_folder(root / "train", (".train",))
    held = {r["domain"]: r["lines"] for r in meta["domains"] if r["split"] == "validation"}
    assert split_text(tmp_path / "p", "validation") == [line for d in domains for line in d.lines[-held[d.name]:]]
    assert split_text(tmp_path / "p", "train") == [line for d in domains for line in d.lines[:-held[d.name]]]
    assert_tail_split(domains, babylm.split_train_validation(domains, 0.05, mode="tail"), 0.05)
    data = open_prepared(tmp_path / "p")
    tok = data.tokenizer()
    for split in ("train", "validation", "test"):
        arr = data.tokens(split)
        assert arr.dtype == np.uint16 and len(arr) == s[split]["tokens"]
        assert int(arr.max()) < 2000
        # every utterance is <s> … </s>
        assert int((arr == 1).sum()) == int((arr == 2).sum()) == s[split]["lines"]
        assert arr[0] == 1 and arr[-1] == 2
        starts = np.flatnonzero(arr == 1)
        assert np.all(arr[starts[1:] - 1] == 2)
    assert np.array_equal(data.tokens("validation"), stream_of(tok, split_text(tmp_path / "p", "validation")))
    # the tokenizer is a transformers fast tokenizer with its special tokens set
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(tmp_path / "p")
    assert tok.is_fast
    assert (tok.pad_token, tok.bos_token, tok.eos_token) == ("<pad>", "<s>", "</s>")
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)


def test_random_split_of_real_subset_is_the_old_split():
    root = shared_data("babylm_2023_subset")
    domains = babylm.read_folder(root / "train", (".train",))
    for seed in (0, 1):
        assert babylm.split_train_validation(domains, 0.05, seed=seed, mode="random") == \
            old_random_split(domains, 0.05, seed=seed)


# ---- split ----

@pytest.mark.parametrize("mode", ["tail", "random"])
def test_split_budgets_fraction_and_absolute(tmp_path, mode):
    root = write_corpus(tmp_path, domains=("a", "b", "c"), lines=600)
    domains = babylm.read_folder(root / "train", (".train",))
    parts = babylm.split_train_validation(domains, valid_fraction=0.1, seed=3, mode=mode)
    longest = max(len(line.split()) for d in domains for line in d.lines)
    for d in domains:
        train, valid = parts[d.name]
        # stratified: each domain holds out its own share, overshooting by less than one line
        assert 0 <= babylm.count_words(valid) - 0.1 * d.words < longest + 1
        assert Counter(train + valid) == Counter(d.lines)
    parts_abs = babylm.split_train_validation(domains, valid_words=1000, seed=3, mode=mode)
    held = sum(babylm.count_words(v) for _, v in parts_abs.values())
    assert 1000 <= held < 1000 + 3 * (longest + 1)
    assert parts == babylm.split_train_validation(domains, valid_fraction=0.1, seed=3, mode=mode)
    other_seed = babylm.split_train_validation(domains, valid_fraction=0.1, seed=4, mode=mode)
    if mode == "random":  # deterministic by seed, different across seeds
        assert parts != other_seed
        assert parts == old_random_split(domains, valid_fraction=0.1, seed=3)
        assert parts_abs == old_random_split(domains, valid_words=1000, seed=3)
    else:  # the tail draws nothing
        assert parts == other_seed
        assert_tail_split(domains, parts, 0.1)
        assert_tail_split(domains, parts_abs, 1000 / sum(d.words for d in domains))


@pytest.mark.parametrize("mode", ["tail", "random"])
def test_split_keeps_original_line_order(tmp_path, mode):
    (tmp_path / "a.train").write_text("".join(f"line {i} has words\n" for i in range(300)))
    (d,) = babylm.read_folder(tmp_path, (".train",))
    train, valid = babylm.split_train_validation([d], 0.2, seed=0, mode=mode)["a"]
    for part in (train, valid):
        numbers = [int(line.split()[1]) for line in part]
        assert numbers == sorted(numbers)
    assert len(valid) == 60
    if mode == "tail":
        assert [int(line.split()[1]) for line in valid] == list(range(240, 300))


def test_tail_split_holds_out_the_last_lines_of_each_domain_file(tmp_path):
    # a hand-made corpus: lines of different lengths, blank lines between some (they are no utterances)
    (tmp_path / "train").mkdir()
    files = {}
    for name, n in (("beta", 57), ("alpha", 120), ("gamma", 9)):
        lines = [f"{name} {i} " + "w " * (i % 7) + "." for i in range(n)]
        text = "".join(line + ("\n\n" if i % 5 == 0 else "\n") for i, line in enumerate(lines))
        (tmp_path / "train" / f"{name}.train").write_text("   \n" + text)
        files[name] = lines
    out = tmp_path / "p"
    meta = prepare(tmp_path, out, vocab_size=300, seq_length=8, valid_fraction=0.1, log=quiet)
    domains = babylm.read_folder(tmp_path / "train", (".train",))
    assert [d.lines for d in domains] == [files[name] for name in ("alpha", "beta", "gamma")]
    assert_tail_split(domains, babylm.split_train_validation(domains, 0.1), 0.1)
    held = {r["domain"]: r["lines"] for r in meta["domains"] if r["split"] == "validation"}
    assert split_text(out, "validation") == [line for d in domains for line in d.lines[-held[d.name]:]]
    assert split_text(out, "train") == [line for d in domains for line in d.lines[:-held[d.name]]]
    assert split_text(out, "validation")[-1] == "gamma 8 w ."
    assert meta["split"] == {"valid_fraction": 0.1, "valid_words": None, "seed": None, "valid_split": "tail"}
    assert open_prepared(out).valid_split == "tail"


def test_random_split_prepares_the_old_split_and_records_it(tmp_path):
    root = write_corpus(tmp_path / "c", domains=("a", "b"), lines=300)
    meta = prepare(root, tmp_path / "p", vocab_size=300, seq_length=16, valid_split="random", seed=5, log=quiet)
    assert meta["split"]["valid_split"] == "random" and meta["split"]["seed"] == 5
    domains = babylm.read_folder(root / "train", (".train",))
    old = old_random_split(domains, 0.05, seed=5)
    assert split_text(tmp_path / "p", "validation") == [line for d in domains for line in old[d.name][1]]
    assert split_text(tmp_path / "p", "train") == [line for d in domains for line in old[d.name][0]]
    assert open_prepared(tmp_path / "p").valid_split == "random"
    # the split mode is part of the settings: the tail preparation of the same corpus is another folder
    assert prepare(root, tmp_path / "t", vocab_size=300, seq_length=16, seed=5, log=quiet)["key"] != meta["key"]


# ---- tokenizer ----

def test_tokenizer_round_trip(tmp_path):
    lines = ["The dog sees the ball .", "A:\tI'm sure they are.", "naïve café — 日本語 😀", "  spaced  out  "] * 50
    tok = train_tokenizer(lines, vocab_size=400)
    for line in lines[:4]:
        assert tok.decode(tok.encode(line).ids) == line
    assert [tok.token_to_id(t) for t in ("<pad>", "<s>", "</s>")] == [0, 1, 2]


def test_vocab_too_small_names_the_problem():
    with pytest.raises(DataError, match="vocabulary size 200 is too small"):
        train_tokenizer(["a b c"], vocab_size=200)


# ---- cache ----

def test_cache_is_reused_not_rebuilt(prepared):
    root, out, meta = prepared
    data = open_prepared(out)
    files = {s: data.token_file(s) for s in data.splits}
    mtimes = {s: f.stat().st_mtime_ns for s, f in files.items()}
    again = prepare(root, out, vocab_size=300, seq_length=16, log=quiet)
    assert again["reused"] is True and again["key"] == meta["key"]
    assert {s: f.stat().st_mtime_ns for s, f in files.items()} == mtimes


def test_two_concurrent_writers_build_one_valid_cache(prepared, tmp_path):
    _, out, meta = prepared
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    data = open_prepared(copy)
    path = data.token_file("train")
    reference = np.load(path).copy()
    path.unlink()
    code = ("import sys, numpy as np; from trainables.data.prepared import open_prepared; "
            "a = open_prepared(sys.argv[1]).tokens('train'); print(len(a), int(np.asarray(a, dtype=np.int64).sum()))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(copy)], stdout=subprocess.PIPE, text=True, cwd=REPO)
             for _ in range(2)]
    outs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs[0] == outs[1] == [str(len(reference)), str(int(reference.astype(np.int64).sum()))]
    assert np.array_equal(np.load(path), reference)
    assert [p.name for p in path.parent.iterdir() if ".tmp" in p.name] == []


def test_cache_made_with_another_tokenizer_is_refused(prepared, tmp_path):
    root, out, _ = prepared
    other = tmp_path / "other"
    prepare(root, other, vocab_size=280, seq_length=16, log=quiet)
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    shutil.copy(other / "tokenizer.json", copy / "tokenizer.json")
    with pytest.raises(DataError, match=r"tokenizer\.json: is not the tokenizer the token caches were made with"):
        open_prepared(copy)
    # a model trained with another tokenizer is refused too
    with pytest.raises(DataError, match="prepared with another tokenizer"):
        open_prepared(out, tokenizer_sha256=open_prepared(other).tokenizer_sha256)


def test_block_chunking(prepared):
    _, out, _ = prepared
    n = len(open_prepared(out).tokens("train"))
    a0, a0b, a1 = train_block_starts(n, 16, 0, 7), train_block_starts(n, 16, 0, 7), train_block_starts(n, 16, 1, 7)
    assert np.array_equal(a0, a0b) and not np.array_equal(a0, a1)
    assert a0.max() + 16 <= n and len(set(a0 % 16)) == 1  # one random phase per epoch
    ev = eval_block_starts(n, 16)
    assert ev[0] == 0 and np.all(np.diff(ev) == 16) and ev[-1] + 16 <= n < ev[-1] + 32


def test_every_utterance_is_bos_tokens_eos_in_a_new_cache(prepared):
    _, out, meta = prepared
    data = open_prepared(out)
    assert data.stream == "bos_eos" and meta["stream"] == "bos_eos"
    tok = data.tokenizer()
    for split in data.splits:
        lines = split_text(out, split)
        arr = np.asarray(data.tokens(split))
        assert np.array_equal(arr, stream_of(tok, lines)), split
        # one <s> … </s> per line: cut at the <s>, every piece ends with </s> and holds no other special
        pieces = np.split(arr, np.flatnonzero(arr == 1)[1:])
        assert len(pieces) == len(lines) == meta["splits"][split]["lines"]
        assert all(p[0] == 1 and p[-1] == 2 and not np.isin(p[1:-1], [0, 1, 2]).any() for p in pieces)


def make_legacy_folder(out, dest):
    """`out` as babysweep prepared it before meta.json recorded a stream or a split mode: its caches hold
    <s> + tokens per line under the old cache key (sha256 of text hash and tokenizer hash)."""
    shutil.copytree(out, dest)
    meta = json.loads((dest / "meta.json").read_text())
    del meta["stream"], meta["split"]["valid_split"]
    for key in ("eos_token", "method", "trained_vocab_size", "unused_before_pruning", "pruned", "unused_byte_symbols",
                "warning"):
        meta["tokenizer"].pop(key, None)
    shutil.rmtree(dest / "tokens")
    (dest / "tokens").mkdir()
    tok = load_tokenizer(dest)
    for split, info in meta["splits"].items():
        old = stream_of(tok, split_text(dest, split), eos=False).astype(meta["dtype"])
        key = hashlib.sha256(f"{info['text_sha256']}:{meta['tokenizer']['sha256']}".encode()).hexdigest()[:16]
        info["tokens"], info["file"] = len(old), f"tokens/{split}-{key}.npy"
        np.save(dest / info["file"], old)
    (dest / "meta.json").write_text(json.dumps(meta))
    return meta


def test_old_folder_reads_its_cache_the_old_way(prepared, tmp_path):
    _, out, _ = prepared
    legacy = tmp_path / "legacy"
    meta = make_legacy_folder(out, legacy)
    data = open_prepared(legacy)
    assert (data.stream, data.valid_split) == ("bos", "random")
    for split in data.splits:
        path = data.token_file(split)
        assert path.relative_to(legacy).as_posix() == meta["splits"][split]["file"]  # the old key
        before = path.stat().st_mtime_ns
        arr = np.asarray(data.tokens(split))
        assert path.stat().st_mtime_ns == before  # read, not rebuilt
        assert not (arr == 2).any() and int((arr == 1).sum()) == meta["splits"][split]["lines"]
        # a cache that went missing is rebuilt the old way, under the old name
        path.unlink()
        assert np.array_equal(open_prepared(legacy).tokens(split), arr)
        assert path.is_file()
    # new caches never share a name with old ones, so neither is ever read under the other convention
    new_names = {open_prepared(out).token_file(s).name for s in data.splits}
    assert new_names.isdisjoint(p.name for p in (legacy / "tokens").iterdir())


def test_unknown_stream_is_refused(prepared, tmp_path):
    _, out, _ = prepared
    shutil.copytree(out, tmp_path / "p")
    meta = read_meta(tmp_path / "p")
    meta["stream"] = "eos_only"
    (tmp_path / "p" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="unknown token stream 'eos_only'"):
        open_prepared(tmp_path / "p")


def test_meta_of_a_small_corpus_records_the_tokenizer_and_warns_when_short(tmp_path, capsys):
    from trainables.data.builtin_corpus import generate_corpus

    generate_corpus(tmp_path / "corpus", words=20_000, seed=0)
    assert main(["data", "prepare", "--corpus", str(tmp_path / "corpus"), "--out", str(tmp_path / "p"),
                 "--vocab-size", "2000", "--quiet"]) == 0
    captured = capsys.readouterr()
    meta = read_meta(tmp_path / "p")
    t = meta["tokenizer"]
    n = len(load_tokenizer(tmp_path / "p"))
    assert t["vocab_size"] == n < 2000 and t["requested_vocab_size"] == 2000
    assert t["trained_vocab_size"] >= n and t["pruned"] > 0 and t["unused_before_pruning"] > 0
    expected = (f"{(tmp_path / 'corpus' / 'train').resolve()}: the tokenizer has {n:,} entries, fewer than the 2,000 "
                f"requested (the corpus has too few distinct merges")
    assert t["warning"].startswith(expected)
    # said once, as the last line on stderr, after the summary on stdout
    err = captured.err.strip().splitlines()
    assert err[-1] == f"warning: {t['warning']}" and sum(line.startswith("warning:") for line in err) == 1
    assert "validation split: tail (the last lines of each domain file)" in captured.out
    assert f"tokenizer: byte-level BPE, {n:,} entries" in captured.out
    # prepare reports it through `log` (the command holds it back for the end); a reused folder still shows it
    logged = []
    assert prepare(tmp_path / "corpus", tmp_path / "q", vocab_size=2000, log=logged.append)["tokenizer"] == t
    assert [m for m in logged if m.startswith("warning: ")] == [f"warning: {t['warning']}"]
    main(["data", "prepare", "--corpus", str(tmp_path / "corpus"), "--out", str(tmp_path / "p"),
          "--vocab-size", "2000", "--quiet"])
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"warning: {t['warning']}"


def test_no_warning_when_the_vocabulary_is_full(prepared, tmp_path):
    root, _, _ = prepared
    logged = []
    t = prepare(root, tmp_path / "p", vocab_size=268, seq_length=16, log=logged.append)["tokenizer"]
    assert t["vocab_size"] == t["requested_vocab_size"] == 268 and "warning" not in t
    assert t["method"] == "byte-level BPE, no unused entry" and t["trained_vocab_size"] > 268
    assert not [m for m in logged if m.startswith("warning")]


# ---- bad input through the CLI: one line, exit 2, nothing written ----

def run_cli(capsys, *argv):
    code = main(list(argv))
    err = capsys.readouterr().err.strip().splitlines()
    return code, [line for line in err if line.startswith("babysweep: error")]


def test_bad_inputs_give_one_line_errors(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "notes.txt").write_text("hello\n")
    good = write_corpus(tmp_path / "good")
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("precious\n")
    cases = [
        (["--corpus", str(tmp_path / "missing")], "missing: no such folder"),
        (["--corpus", str(empty)], "empty: folder is empty"),
        (["--corpus", str(wrong)], "wrong: no *.train files"),
        (["--corpus", str(good), "--vocab-size", "100"], "vocabulary size 100 is too small"),
    ]
    for extra, expected in cases:
        out = tmp_path / "out"
        code, errors = run_cli(capsys, "data", "prepare", "--out", str(out), "--quiet", *extra)
        assert code == 2 and len(errors) == 1 and expected in errors[0], (extra, errors)
        assert not out.exists()
    code, errors = run_cli(capsys, "data", "prepare", "--corpus", str(good), "--out", str(occupied), "--quiet")
    assert code == 2 and "occupied: folder exists and holds other files" in errors[0]
    assert sorted(p.name for p in occupied.iterdir()) == ["keep.txt"]
    # no temporary folder left behind by any failed run
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_prepared_folder_from_other_settings_is_not_overwritten(prepared, tmp_path, capsys):
    root, out, meta = prepared
    before = (out / "meta.json").read_text()
    for other in (["--vocab-size", "290"], ["--vocab-size", "300", "--seq-length", "16", "--valid-split", "random"]):
        code, errors = run_cli(capsys, "data", "prepare", "--corpus", str(root), "--out", str(out), *other, "--quiet")
        assert code == 2 and len(errors) == 1 and "holds data prepared from other files or settings" in errors[0]
        assert (out / "meta.json").read_text() == before


def test_bad_valid_split_is_a_one_line_usage_error(tmp_path, capsys):
    good = write_corpus(tmp_path / "good")
    with pytest.raises(SystemExit) as e:
        main(["data", "prepare", "--corpus", str(good), "--out", str(tmp_path / "out"), "--valid-split", "middle"])
    assert e.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1  # argparse's wording of the choices varies with the Python version
    assert errors[0].startswith("babysweep data prepare: error: argument --valid-split: invalid choice: 'middle'")
    assert "tail" in errors[0] and "random" in errors[0]
    assert not (tmp_path / "out").exists()
    with pytest.raises(DataError, match=r"^--valid-split middle: must be one of tail, random$"):
        prepare(good, tmp_path / "out", valid_split="middle", log=quiet)
    assert not (tmp_path / "out").exists()


def test_missing_prepared_folder(tmp_path):
    with pytest.raises(DataError, match="no such prepared data folder"):
        open_prepared(tmp_path / "nope")
    (tmp_path / "x").mkdir()
    with pytest.raises(DataError, match="no meta.json"):
        open_prepared(tmp_path / "x")


def test_non_utf8_bytes_are_replaced_and_counted(tmp_path, caplog):
    root = write_corpus(tmp_path / "c")
    with open(root / "train" / "alpha.train", "ab") as f:
        f.write(b"caf\xe9 au lait \xff\xfe .\n")
    with caplog.at_level("WARNING", logger="babysweep"):
        meta = prepare(root, tmp_path / "p", vocab_size=300, log=quiet)
    assert meta["corpus"]["replaced_non_utf8"] == 3  # \xe9, \xff and \xfe each
    assert any("alpha.train: 3 invalid UTF-8" in r.getMessage() for r in caplog.records)


def test_cli_prepare_prints_summary(tmp_path, capsys):
    root = write_corpus(tmp_path / "c")
    assert main(["data", "prepare", "--corpus", str(root), "--out", str(tmp_path / "p"), "--vocab-size", "300",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "total                        validation" in out and "tokens/word" in out
    meta = json.loads((tmp_path / "p" / "meta.json").read_text())
    assert set(meta["splits"]) == {"train", "validation", "test"}
    assert load_tokenizer(tmp_path / "p").bos_token_id == 1
