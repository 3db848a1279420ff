"""`babysweep evaluate` on a real tiny sweep, with the built-in pairs, then `analyze correlate` on its table."""
import pytest

from sweep.cli import main
from sweep.table import read_table

pytestmark = pytest.mark.slow  # every test runs on the real small_sweep (conftest.py)


def test_evaluate_then_correlate(small_sweep, tiny_data, capsys):
    pairs = tiny_data.parent / "corpus" / "blimp"
    exp = small_sweep / "small"
    assert main(["evaluate", "small", "--storage", str(small_sweep), "--blimp", str(pairs), "--limit", "40"]) == 0
    table = read_table(exp / "results.csv")
    finished = table[table["checkpoint"].notna()]
    assert len(finished) >= 2
    assert finished["blimp_filtered"].between(0, 1).all()
    paradigm_columns = [c for c in table.columns if c.startswith("blimp/")]
    assert len(paradigm_columns) >= 8
    # the suite score is the mean of the per-paradigm accuracies
    row = finished.iloc[0]
    assert row["blimp_filtered"] == pytest.approx(row[paradigm_columns].astype(float).mean())
    assert table[table["checkpoint"].isna()]["blimp_filtered"].isna().all()  # stopped trials: not scored
    capsys.readouterr()

    # run again: nothing left to score, nothing changed
    before = (exp / "evaluation.csv").read_text()
    assert main(["evaluate", "small", "--storage", str(small_sweep), "--blimp", str(pairs), "--limit", "40"]) == 0
    assert "0 checkpoint(s) to score" in capsys.readouterr().err
    assert (exp / "evaluation.csv").read_text() == before

    assert main(["analyze", "correlate", "small", "--storage", str(small_sweep), "--bootstrap", "200"]) == 0
    out = capsys.readouterr().out
    assert "BLiMP filtered" in out and "test loss" in out
    report = exp / "analysis"
    assert (report / "correlate.md").is_file() and (report / "correlate.csv").is_file()
    assert (report / "blimp_filtered_vs_val_loss.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_bad_pairs_folder(small_sweep, tmp_path, capsys):
    code = main(["evaluate", "small", "--storage", str(small_sweep), "--blimp", str(tmp_path / "none")])
    err = [l for l in capsys.readouterr().err.splitlines() if l.startswith("babysweep: error")]
    assert code == 2 and len(err) == 1 and "none" in err[0]
