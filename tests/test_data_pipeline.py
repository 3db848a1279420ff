"""The data pipeline on real files: BabyLM reader, line split, tokenizer, token cache, bad input."""
import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, shared_data
from sweep.cli import main
from trainables.data import babylm
from trainables.errors import DataError
from trainables.data.prepared import (eval_block_starts, open_prepared, prepare, train_block_starts)
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


def test_prepare_real_subset(tmp_path):
    root = shared_data("babylm_2023_subset")
    meta = prepare(root, tmp_path / "p", vocab_size=2000, log=quiet)
    s = meta["splits"]
    total = s["train"]["words"] + s["validation"]["words"]
    assert abs(s["validation"]["words"] / total - 0.05) < 0.001
    assert s["test"]["words"] == sum(d.words for d in babylm.read_folder(root / "dev", (".dev",)))
    assert meta["tokenizer"]["vocab_size"] == 2000 and meta["dtype"] == "uint16"
    data = open_prepared(tmp_path / "p")
    for split in ("train", "validation", "test"):
        arr = data.tokens(split)
        assert arr.dtype == np.uint16 and len(arr) == s[split]["tokens"]
        assert int(arr.max()) < 2000
        # every utterance starts with <s>
        assert int((arr == 1).sum()) == s[split]["lines"]
    # the tokenizer is a transformers fast tokenizer with its special tokens set
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(tmp_path / "p")
    assert tok.is_fast
    assert (tok.pad_token, tok.bos_token, tok.eos_token) == ("<pad>", "<s>", "</s>")
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)


# ---- split ----

def test_split_budgets_fraction_and_absolute(tmp_path):
    root = write_corpus(tmp_path, domains=("a", "b", "c"), lines=600)
    domains = babylm.read_folder(root / "train", (".train",))
    parts = babylm.split_train_validation(domains, valid_fraction=0.1, seed=3)
    longest = max(len(line.split()) for d in domains for line in d.lines)
    for d in domains:
        train, valid = parts[d.name]
        # stratified: each domain holds out its own share, overshooting by less than one line
        assert 0 <= babylm.count_words(valid) - 0.1 * d.words < longest + 1
        assert Counter(train + valid) == Counter(d.lines)
    parts_abs = babylm.split_train_validation(domains, valid_words=1000, seed=3)
    held = sum(babylm.count_words(v) for _, v in parts_abs.values())
    assert 1000 <= held < 1000 + 3 * (longest + 1)
    # deterministic by seed, different across seeds
    assert parts == babylm.split_train_validation(domains, valid_fraction=0.1, seed=3)
    assert parts != babylm.split_train_validation(domains, valid_fraction=0.1, seed=4)


def test_split_keeps_original_line_order(tmp_path):
    (tmp_path / "a.train").write_text("".join(f"line {i} has words\n" for i in range(300)))
    (d,) = babylm.read_folder(tmp_path, (".train",))
    train, valid = babylm.split_train_validation([d], 0.2, seed=0)["a"]
    for part in (train, valid):
        numbers = [int(line.split()[1]) for line in part]
        assert numbers == sorted(numbers)
    assert len(valid) == 60


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
    code, errors = run_cli(capsys, "data", "prepare", "--corpus", str(root), "--out", str(out), "--vocab-size", "290",
                           "--quiet")
    assert code == 2 and "holds data prepared from other files or settings" in errors[0]
    assert (out / "meta.json").read_text() == before


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
