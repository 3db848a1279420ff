"""`babysweep evaluate`: one model folder scored here (fast), and a real tiny sweep scored as Ray tasks with the
built-in pairs and EWoK-format items, then `analyze correlate` on its table (slow); the tie rule kept per sweep,
bad options as one line."""
import json
import shutil

import pandas as pd
import pytest

from conftest import copy_legacy
from babysweep.cli import main
from sweep.table import EVALUATION_SCHEMA, read_table
from test_blimp import one_thread, random_checkpoint  # noqa: F401  (fixtures)



def corpus(tiny_data):
    return tiny_data.parent / "corpus"


def errors(capsys):
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("babysweep: error")]


# ---------------------------------------------------------------------------------------------- one model folder

def test_evaluate_a_model_folder_prints_its_table(tiny_data, random_checkpoint, tmp_path, capsys):
    out = tmp_path / "scores.json"
    assert main(["evaluate", str(random_checkpoint), "--blimp", str(corpus(tiny_data) / "blimp"), "--ewok",
                 str(corpus(tiny_data) / "ewok"), "--limit", "6", "--device", "cpu", "--out", str(out),
                 "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"evaluating the model folder {random_checkpoint} here (no Ray)"
    assert any(line.startswith("builtin_pairs/copula_agreement ") and line.split()[1] == "6" for line in lines)
    assert any(line.startswith("ewok/spatial-relations ") for line in lines)
    suites = {line.split()[0]: line.split() for line in lines if line.startswith(("builtin_pairs ", "ewok "))}
    assert set(suites) == {"builtin_pairs", "ewok"} and suites["ewok"][1] == "18"
    assert "ties: right; newline: utterance boundary </s> <s>" in lines[-2] and "precision: float32" in lines[-2]
    assert lines[-1] == f"written: {out}"
    saved = json.loads(out.read_text())
    assert saved["model"] == str(random_checkpoint) and saved["ties_rule"] == "right"
    assert saved["columns"]["ewok"] == pytest.approx(sum(v for k, v in saved["columns"].items()
                                                         if k.startswith("ewok/")) / 3)
    assert f"{float(suites['ewok'][2]):.4f}" == f"{saved['suites']['ewok']['score']:.4f}"
    assert not list(tmp_path.glob(".*"))  # written atomically: no temporary file left


def test_a_folder_wins_over_a_sweep_of_its_name_only_when_it_holds_a_model(tiny_data, random_checkpoint, tmp_path,
                                                                          monkeypatch, capsys):
    runs = tmp_path / "runs"
    copy_legacy(runs)
    monkeypatch.chdir(tmp_path)
    shutil.copytree(random_checkpoint, tmp_path / "legacy-rerun")  # a model folder named as a sweep
    (tmp_path / "legacy").mkdir()  # a folder named as a sweep, with no model in it
    pairs = str(corpus(tiny_data) / "blimp")
    assert main(["evaluate", "legacy-rerun", "--storage", str(runs), "--blimp", pairs, "--limit", "2",
                 "--device", "cpu", "--quiet"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"evaluating the model folder legacy-rerun here (no Ray); not the sweep 'legacy-rerun' of {runs}"
    # the sweep: its rows were scored before the tie rule was recorded (ties wrong), so an explicit --ties right is
    # refused
    before = (runs / "legacy" / "evaluation.csv").read_text()
    assert main(["evaluate", "legacy", "--storage", str(runs), "--blimp", pairs, "--ties", "right"]) == 2
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == (f"evaluating the sweep 'legacy' of {runs}: every trial's model, as Ray "
                                            f"tasks (legacy is also a folder here, but holds no model)")
    err = [line for line in captured.err.splitlines() if line.startswith("babysweep: error")]
    assert len(err) == 1 and "evaluation.csv: 2 of its 2 scored row(s) count ties as wrong" in err[0]
    assert "--ties wrong" in err[0]
    assert (runs / "legacy" / "evaluation.csv").read_text() == before  # nothing written


@pytest.mark.parametrize("argv, message", [
    (["--ties", "maybe", "--blimp", "x"], "--ties: must be right"),
    ([], "nothing to score; give --blimp, --supplement or --ewok"),
    (["--blimp", "nowhere"], "nowhere: no such folder"),
])
def test_bad_options_are_one_line(random_checkpoint, capsys, argv, message):
    assert main(["evaluate", str(random_checkpoint), *argv]) == 2
    err = errors(capsys)
    assert len(err) == 1 and message in err[0]


# ---------------------------------------------------------------------------------------------- a sweep (slow)

@pytest.mark.slow
def test_evaluate_then_correlate(small_sweep, tiny_data, capsys):
    pairs = tiny_data.parent / "corpus" / "blimp"
    exp = small_sweep / "small"
    assert main(["evaluate", "small", "--storage", str(small_sweep), "--blimp", str(pairs), "--limit", "40"]) == 0
    table = read_table(exp / "results.csv")
    finished = table[table["checkpoint"].notna()]
    assert len(finished) == len(table)  # every trial left a model where it stopped
    assert finished["builtin_pairs"].between(0, 1).all()  # the built-in pairs are not BLiMP: their own column
    assert "blimp_filtered" not in table.columns
    assert set(table["ties_rule"]) == {"right"} and set(table["precision"]) == {"float32"}
    assert set(table["newline"]) == {"utterance boundary </s> <s>"}  # tiny_data is a bos_eos stream
    # every model of the sweep is scored, trials HyperBand stopped at a rung included (the paper's Fig. 2), and
    # each score says which report's model it is: the trial's last (--keep last)
    stopped = table[table["epoch"] < 3]
    assert len(stopped) >= 1 and stopped["builtin_pairs"].notna().all() and stopped["test_loss"].notna().all()
    assert (table["scored_epoch"] == table["epoch"]).all()
    assert table["scored_val_loss"].tolist() == pytest.approx(table["val_loss"].tolist())
    paradigm_columns = [c for c in table.columns if c.startswith("builtin_pairs/")]
    assert len(paradigm_columns) >= 8
    # the suite score is the mean of the per-paradigm accuracies
    row = finished.iloc[0]
    assert row["builtin_pairs"] == pytest.approx(row[paradigm_columns].astype(float).mean())
    capsys.readouterr()

    # run again: nothing left to score, nothing changed
    before = (exp / "evaluation.csv").read_text()
    assert main(["evaluate", "small", "--storage", str(small_sweep), "--blimp", str(pairs), "--limit", "40"]) == 0
    assert "0 checkpoint(s) to score" in capsys.readouterr().err
    assert (exp / "evaluation.csv").read_text() == before
    made = json.loads(table["provenance/builtin_pairs"].iloc[0])  # each score says how it was made
    assert (made["source"], made["per_paradigm"], made["ties"], made["precision"]) == ("blimp", 40, "right", "float32")
    assert made["pairs"] == 40 * len(paradigm_columns) and len(made["sha256"]) == 16

    # another --limit: the quick look is scored again, the scores it replaced kept in the history
    assert main(["evaluate", "small", "--storage", str(small_sweep), "--blimp", str(pairs), "--limit", "60"]) == 0
    assert f"{len(table)} of them scored again" in capsys.readouterr().err
    history = read_table(exp / "evaluation_history.csv", EVALUATION_SCHEMA)
    assert sorted(history["trial_id"]) == sorted(table["trial_id"])
    assert history["builtin_pairs"].tolist() == pytest.approx(
        table.set_index("trial_id").loc[history["trial_id"], "builtin_pairs"].tolist())
    table = read_table(exp / "results.csv")
    assert {json.loads(c)["per_paradigm"] for c in table["provenance/builtin_pairs"]} == {60}

    # EWoK on the same sweep: the same rows get the ewok columns; nothing else is scored again
    ewok = tiny_data.parent / "corpus" / "ewok"
    assert main(["evaluate", "small", "--storage", str(small_sweep), "--ewok", str(ewok), "--limit", "10"]) == 0
    assert f"{len(table)} checkpoint(s) to score" in capsys.readouterr().err
    after = read_table(exp / "results.csv")
    evaluation = read_table(exp / "evaluation.csv")
    assert len(evaluation) == len(table) and evaluation["trial_id"].is_unique
    domains = [c for c in after.columns if c.startswith("ewok/")]
    assert domains == ["ewok/agent-properties", "ewok/physical-relations", "ewok/spatial-relations"]
    assert after["ewok"].between(0, 1).all()
    assert after["ewok"].tolist() == pytest.approx(after[domains].astype(float).mean(axis=1).tolist())
    assert after["builtin_pairs"].tolist() == table["builtin_pairs"].tolist()
    # another tie rule is refused, with one line, before anything is scored
    assert main(["evaluate", "small", "--storage", str(small_sweep), "--ewok", str(ewok), "--ties", "wrong"]) == 2
    err = errors(capsys)
    assert len(err) == 1 and f"count ties as right (ties_rule), and this run would count them wrong" in err[0]

    assert main(["analyze", "correlate", "small", "--storage", str(small_sweep), "--bootstrap", "200"]) == 0
    out = capsys.readouterr().out
    assert "built-in pairs" in out and "EWoK" in out and "test loss" in out
    report = exp / "analysis"
    assert (report / "correlate.md").is_file() and (report / "correlate.csv").is_file()
    assert (report / "builtin_pairs_vs_val_loss.png").read_bytes()[:4] == b"\x89PNG"
    assert list(pd.read_csv(report / "correlate.csv")["y"]) == ["ewok", "builtin_pairs", "test_loss"]


@pytest.mark.slow
def test_evaluate_bad_pairs_folder(small_sweep, tmp_path, capsys):
    code = main(["evaluate", "small", "--storage", str(small_sweep), "--blimp", str(tmp_path / "none")])
    err = [l for l in capsys.readouterr().err.splitlines() if l.startswith("babysweep: error")]
    assert code == 2 and len(err) == 1 and "none" in err[0]


def test_a_sweep_scored_before_goes_on_under_its_own_tie_rule_unless_told_otherwise(tmp_path):
    from analysis.blimp import BlimpError
    from analysis.evaluate import check_tie_rule

    legacy = [{"trial_id": "a", "checkpoint": "c", "blimp_filtered": 0.6}]  # scored before ties_rule was recorded
    notes = []
    assert check_tie_rule([dict(r) for r in legacy], None, tmp_path / "evaluation.csv", notes.append) == "wrong"
    assert len(notes) == 1 and "count ties as wrong: going on under that rule (--ties wrong)" in notes[0]
    assert check_tie_rule([dict(r) for r in legacy], "wrong", tmp_path / "evaluation.csv", notes.append) == "wrong"
    with pytest.raises(BlimpError, match="count ties as wrong"):
        check_tie_rule([dict(r) for r in legacy], "right", tmp_path / "evaluation.csv", notes.append)
    # nothing scored yet (or rows already under lm-eval's rule): the default rule, silently
    assert check_tie_rule([], None, tmp_path / "evaluation.csv", notes.append) == "right"
    new = [{"trial_id": "a", "checkpoint": "c", "builtin_pairs": 0.6, "ties_rule": "right"}]
    assert check_tie_rule(new, None, tmp_path / "evaluation.csv", notes.append) == "right" and len(notes) == 1
