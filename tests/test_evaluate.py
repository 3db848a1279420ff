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
    assert len(finished) == len(table)  # every trial left a model where it stopped
    assert finished["blimp_filtered"].between(0, 1).all()
    # every model of the sweep is scored, trials HyperBand stopped at a rung included (the paper's Fig. 2), and
    # each score says which report's model it is: the trial's last (--keep last)
    stopped = table[table["epoch"] < 3]
    assert len(stopped) >= 1 and stopped["blimp_filtered"].notna().all() and stopped["test_loss"].notna().all()
    assert (table["scored_epoch"] == table["epoch"]).all()
    assert table["scored_val_loss"].tolist() == pytest.approx(table["val_loss"].tolist())
    paradigm_columns = [c for c in table.columns if c.startswith("blimp/")]
    assert len(paradigm_columns) >= 8
    # the suite score is the mean of the per-paradigm accuracies
    row = finished.iloc[0]
    assert row["blimp_filtered"] == pytest.approx(row[paradigm_columns].astype(float).mean())
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


def test_a_pruned_checkpoint_is_noted_not_scored(small_sweep, tiny_data, tmp_path, capsys):
    """A checkpoint that no longer exists (pruned, or its storage moved) gets a note in the table, not a crash."""
    import shutil

    from sweep.table import write_table

    storage = tmp_path / "runs"
    shutil.copytree(small_sweep / "small", storage / "copy", ignore=shutil.ignore_patterns("evaluation.csv"))
    table = read_table(storage / "copy" / "results.csv")
    gone = table["trial_id"].iloc[0]
    table.loc[table["trial_id"] == gone, "checkpoint"] = str(tmp_path / "pruned" / "checkpoint_000000")
    write_table(table.drop(columns=[c for c in table.columns if c.startswith(("blimp", "scored_"))]),
                storage / "copy" / "results.csv")
    pairs = tiny_data.parent / "corpus" / "blimp"
    assert main(["evaluate", "copy", "--storage", str(storage), "--blimp", str(pairs), "--limit", "10"]) == 0
    assert "no longer exists" in capsys.readouterr().err
    after = read_table(storage / "copy" / "results.csv").set_index("trial_id")
    assert "no longer exists" in after.loc[gone, "eval_note"] and after["blimp_filtered"].isna().sum() == 1
