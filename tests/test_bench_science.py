"""benchmarks/bench_science.py: a tiny configuration end to end on the built-in corpus (its pairs copied into
folders named as BabyLM's, so they score as BLiMP filtered and supplement), and its bad inputs (one line, exit 2)."""
import shutil

import pytest

from conftest import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_science")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A built-in corpus of 6,000 words, and BLiMP-format folders named blimp_filtered / supplement_filtered."""
    from trainables.data.builtin_corpus import generate_corpus

    root = tmp_path_factory.mktemp("science")
    generate_corpus(root / "corpus", words=6_000, seed=0, pairs_per_paradigm=10)
    pairs = sorted((root / "corpus" / "blimp").glob("*.jsonl"))
    for name, files in (("blimp_filtered", pairs), ("supplement_filtered", pairs[:2])):
        (root / name).mkdir()
        for f in files:
            shutil.copy(f, root / name / f.name)
    return root


def args_for(corpus, tmp_path, *more):
    return ["--corpus", str(corpus / "corpus"), "--words", "4000", "--vocab-size", "300", "--seq-length", "32",
            "--preset", "tiny", "--blimp", str(corpus / "blimp_filtered"),
            "--supplement", str(corpus / "supplement_filtered"), "--out", str(tmp_path / "work"),
            "--summary", str(tmp_path / "summary.md"), *more]


@pytest.mark.slow
def test_tiny_configuration_end_to_end(bench, corpus, tmp_path):
    rc = bench.main(args_for(corpus, tmp_path, "--trials", "3", "--pairs", "4", "--epochs", "0.6", "--top-k", "1",
                             "--seeds", "2", "--n-boot", "100", "--quiet"))
    assert rc == 0
    summary = (tmp_path / "summary.md").read_text()
    for section in bench.SECTIONS:
        assert section in summary, section
    for label in ("test loss on validation loss", "BLiMP filtered on validation loss",
                  "BLiMP supplement on validation loss"):
        row = next(line for line in summary.splitlines() if line.startswith(f"| {label} |"))
        assert "not measured" not in row, row
    assert "BLiMP filtered across 3 scored trials" in summary
    assert "| sweep |" in summary and "| rerun |" in summary and "| evaluate |" in summary
    assert "--trials 3" in summary  # the command line
    # the budgeted corpus: the first words of every domain, evenly
    written = sum(len(line.split()) for f in (tmp_path / "work" / "corpus-4000" / "train").glob("*.train")
                  for line in f.read_text().splitlines())
    assert 4000 <= written < 4200


@pytest.mark.parametrize("change, message", [
    (["--words", "10000000"], "fewer than --words"),
    (["--preset", "no-such-preset"], "--preset no-such-preset: unknown preset"),
    (["--blimp", "EMPTY"], "no *.jsonl files"),
])
def test_bad_input_is_one_line_and_exit_2(bench, corpus, tmp_path, capsys, change, message):
    if change == ["--blimp", "EMPTY"]:
        (tmp_path / "empty").mkdir()
        change = ["--blimp", str(tmp_path / "empty")]
    assert bench.main(args_for(corpus, tmp_path, *change)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "work").exists()  # nothing long started


def test_words_shared_evenly(bench):
    assert bench.share_out(300, {"a": 1000, "b": 1000, "c": 1000}) == {"a": 100, "b": 100, "c": 100}
    # a small domain gives all it has; the others share the rest
    assert bench.share_out(300, {"a": 40, "b": 1000, "c": 1000}) == {"a": 40, "b": 130, "c": 130}
    assert bench.first_words(["a b", "c d e", "f"], 3) == ["a b", "c d e"]
