"""`babysweep analyze compare`: Table 3 (mean ± sd per family per metric) and Figure 1 (violins, the sweep, its best
trial as a cross, reference points) on hand-written experiment folders with known means, and bad input."""
import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.compare import (AnalysisError, attach_superglue, compare, comparison_table, markdown_table,
                              plot_comparison, read_references)
from babysweep.cli.analyze import main, register

FIXTURE_SPACE = Path(__file__).parent / "fixtures" / "legacy_v0_1" / "legacy" / "space.yaml"  # budget max 3
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# the families' known values (one per model) and their means and sample standard deviations
TEACHER = {"val_loss": [3.0, 3.2, 3.4], "test_loss": [3.1, 3.3, 3.5], "blimp_filtered": [0.70, 0.72, 0.74]}
STUDENT = {"val_loss": [2.9, 2.95, 3.0], "test_loss": [3.0, 3.05, 3.1]}
STUDENT_BLIMP = [0.73, 0.76, 0.79]   # from the student family's evaluation.csv
TEACHER_SUPERGLUE = [60.0, 64.0, 62.0]  # finetune_all.csv macro averages, in %


def run_cli(argv):
    p = argparse.ArgumentParser(prog="babysweep")
    register(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(argv)
    return args.func(args)


def experiment(storage: Path, name: str, rows, evaluation=None, space=False) -> Path:
    exp = storage / name
    exp.mkdir(parents=True)
    (exp / "sweep.json").write_text(json.dumps({"kind": "sweep", "name": name, "algo": "bohb", "space": "space.yaml"}))
    if space:
        shutil.copy(FIXTURE_SPACE, exp / "space.yaml")
    if rows is not None:
        pd.DataFrame(rows).to_csv(exp / "results.csv", index=False)
    if evaluation is not None:
        pd.DataFrame(evaluation).to_csv(exp / "evaluation.csv", index=False)
    return exp


def family_rows(prefix, values, extra=()):
    n = len(next(iter(values.values())))
    rows = [{"trial_id": f"{prefix}{i}", "state": "TERMINATED", "epoch": 3.0, "diverged": False,
             **{k: v[i] for k, v in values.items()}} for i in range(n)]
    return rows + list(extra)


def sweep_rows():
    """12 complete trials (val_loss 3.3 ... 4.4, the best t00), 3 stopped early by the scheduler, 1 diverged."""
    rows = []
    for i in range(12):
        v = 3.3 + 0.1 * i
        rows.append({"trial_id": f"t{i:02d}", "state": "TERMINATED", "epoch": 3.0, "config/num_epochs": 3,
                     "diverged": False, "val_loss": v, "test_loss": v + 0.05, "blimp_filtered": 0.70 - 0.01 * i,
                     "ewok": 0.5, "ewok/domain": 0.5})
    for i in range(3):
        rows.append({"trial_id": f"s{i}", "state": "TERMINATED", "epoch": 1.0, "config/num_epochs": 3,
                     "diverged": False, "val_loss": 5.0 + i, "test_loss": np.nan, "blimp_filtered": 0.55,
                     "ewok": 0.5, "ewok/domain": 0.5})
    rows.append({"trial_id": "d0", "state": "TERMINATED", "epoch": 3.0, "config/num_epochs": 3, "diverged": True,
                 "val_loss": np.nan, "test_loss": np.nan})
    return rows


@pytest.fixture
def storage(tmp_path):
    runs = tmp_path / "runs"
    teacher = experiment(runs, "teacher", family_rows(
        "a", TEACHER, extra=[{"trial_id": "a9", "state": "ERROR", "epoch": 1.0, "val_loss": 9.0}]))
    for i, score in enumerate(TEACHER_SUPERGLUE):  # babysweep finetune-all --out runs/teacher/finetune/<trial_id>
        folder = teacher / "finetune" / f"a{i}"
        folder.mkdir(parents=True)
        pd.DataFrame({"task": ["rte", "boolq", "macro average"], "metric": ["accuracy", "accuracy", ""],
                      "score": [score - 1, score + 1, score]}).to_csv(folder / "finetune_all.csv", index=False)
    experiment(runs, "student", family_rows("b", STUDENT),
               evaluation={"trial_id": ["b0", "b1", "b2"], "blimp_filtered": STUDENT_BLIMP,
                           "checkpoint": ["x", "y", "z"]})
    experiment(runs, "ensemble", family_rows("e", {"val_loss": [2.97], "test_loss": [3.02],
                                                   "blimp_filtered": [0.75]}))
    experiment(runs, "sweep", sweep_rows(), space=True)
    return runs


def stats(values, scale=1.0):
    v = np.asarray(values, dtype=float) * scale
    return v.mean(), v.std(ddof=1)


# ---------------------------------------------------------------------------------------------- end to end

def test_cli_end_to_end_writes_table_3_and_figure_1(storage, capsys):
    refs = storage.parent / "refs.yaml"
    refs.write_text("BabyLlama (10M):\n  blimp_filtered: 69.8\n  superglue: 63.3\n  marker: '^'\n"
                    "LTG-BERT (100M):\n  blimp_filtered: 69.2\n  marker: s\n  filled: false\n")
    run_cli(["analyze", "compare", "Teachers=teacher", "Students=student", "ensemble", "--sweep", "sweep",
             "--reference", str(refs), "--storage", str(storage)])
    stdout = capsys.readouterr().out
    out = storage / "sweep" / "analysis"  # default with --sweep: the sweep's analysis folder
    for name in ("compare.md", "compare.csv", "compare.png", "compare.pdf"):
        assert (out / name).is_file() and str(out / name) in stdout
    assert not list(out.glob(".*"))  # no temporary file left behind
    assert (out / "compare.png").read_bytes()[:8] == PNG_MAGIC
    assert (out / "compare.pdf").read_bytes()[:5] == b"%PDF-"
    from matplotlib.image import imread
    image = imread(out / "compare.png")
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 1000
    assert image[..., :3].std() > 0.05  # something drawn, not a blank page

    assert "Table 3" in stdout and "| Teachers | 3 |" in stdout and "| Students | 3 |" in stdout
    assert "| ensemble | 1 |" in stdout and "| sweep (sweep) | 12 |" in stdout
    assert "Teachers: 3 model(s); 1 unfinished row(s) left out (1 ERROR)" in stdout

    csv = pd.read_csv(out / "compare.csv")
    cell = csv.set_index(["model", "metric"])
    for column, values in TEACHER.items():
        scale = 100.0 if column.startswith("blimp") else 1.0
        mean, sd = stats(values, scale)
        assert cell.loc[("Teachers", column), "mean"] == pytest.approx(mean, abs=1e-9)
        assert cell.loc[("Teachers", column), "sd"] == pytest.approx(sd, abs=1e-9)
        assert cell.loc[("Teachers", column), "n"] == 3
    mean, sd = stats(TEACHER_SUPERGLUE)  # from finetune_all.csv, in %
    assert cell.loc[("Teachers", "superglue"), "mean"] == pytest.approx(mean)
    assert cell.loc[("Teachers", "superglue"), "sd"] == pytest.approx(sd)
    mean, sd = stats(STUDENT_BLIMP, 100)  # merged from evaluation.csv
    assert cell.loc[("Students", "blimp_filtered"), "mean"] == pytest.approx(mean)
    assert cell.loc[("Students", "blimp_filtered"), "sd"] == pytest.approx(sd)
    mean, sd = stats(STUDENT["val_loss"])
    assert cell.loc[("Students", "val_loss"), "mean"] == pytest.approx(mean)
    assert cell.loc[("Students", "val_loss"), "sd"] == pytest.approx(sd)
    assert cell.loc[("ensemble", "val_loss"), "mean"] == pytest.approx(2.97)
    assert np.isnan(cell.loc[("ensemble", "val_loss"), "sd"])
    # the sweep: its 12 complete trials (early-stopped and diverged ones left out); its best: t00
    mean, sd = stats([3.3 + 0.1 * i for i in range(12)])
    assert cell.loc[("sweep (sweep)", "val_loss"), "n"] == 12
    assert cell.loc[("sweep (sweep)", "val_loss"), "mean"] == pytest.approx(mean)
    assert cell.loc[("sweep (sweep)", "val_loss"), "sd"] == pytest.approx(sd)
    assert cell.loc[("sweep (sweep): best trial t00", "val_loss"), "mean"] == pytest.approx(3.3)
    assert cell.loc[("sweep (sweep): best trial t00", "blimp_filtered"), "mean"] == pytest.approx(70.0)
    assert cell.loc[("BabyLlama (10M)", "superglue"), "mean"] == pytest.approx(63.3)
    assert set(csv["kind"]) == {"family", "sweep", "best", "reference"}
    # EWoK: only the sweep has it, so it is left out, with a note; BLiMP supplement: nobody has it
    assert "ewok" not in set(csv["metric"]) and "blimp_supplement" not in set(csv["metric"])
    md = (out / "compare.md").read_text()
    assert "EWoK (`ewok`): left out, no family has a value (the sweep has some)" in md
    assert "BLiMP supplement (`blimp_supplement`): left out" in md
    assert f"| Teachers | 3 | 3.3000 ± 0.2000 | 3.2000 ± 0.2000 | 72.00 ± 2.00 | {62:.2f} ± {2:.2f} |" in md


def test_default_output_is_the_first_familys_analysis_folder(storage, capsys):
    run_cli(["analyze", "compare", "student", "teacher", "--storage", str(storage)])
    out = storage / "student" / "analysis"
    assert sorted(p.name for p in out.iterdir()) == ["compare.csv", "compare.md", "compare.pdf", "compare.png"]
    assert not (storage / "teacher" / "analysis").exists()
    stdout = capsys.readouterr().out
    assert "| student | 3 |" in stdout and "| teacher | 3 |" in stdout
    assert set(pd.read_csv(out / "compare.csv")["kind"]) == {"family"}  # no sweep, no best, no reference


def test_out_option_and_all_sweep_trials(storage, tmp_path, capsys):
    out = tmp_path / "elsewhere"
    run_cli(["analyze", "compare", "teacher", "--sweep", "Sweep=sweep", "--all-sweep-trials",
             "--storage", str(storage), "--out", str(out)])
    csv = pd.read_csv(out / "compare.csv").set_index(["model", "metric"])
    assert csv.loc[("Sweep", "val_loss"), "n"] == 15  # the 3 stopped early too; the diverged one never
    assert csv.loc[("Sweep: best trial t00", "val_loss"), "mean"] == pytest.approx(3.3)  # best: complete only
    assert not (storage / "sweep" / "analysis").exists()


# ---------------------------------------------------------------------------------------------- the figure

def test_figure_draws_violins_ticks_the_best_cross_and_reference_markers(storage):
    from sweep.experiment import load_experiment

    teacher = load_experiment("teacher", storage)
    families = {"teachers": attach_superglue(teacher.table, teacher.path)[0],
                "students": load_experiment("student", storage).table,
                "ensemble": load_experiment("ensemble", storage).table}
    sweep = load_experiment("sweep", storage)
    best = sweep.best_trial()
    assert best["trial_id"] == "t00"
    refs = {"BabyLlama": {"values": {"blimp_filtered": 69.8}, "marker": "^", "filled": True},
            "LTG-BERT": {"values": {"blimp_filtered": 60.6, "superglue": 60.3}, "marker": "s", "filled": False}}
    c = compare(families, sweep=sweep.complete_trials()[0], best=best, references=refs)
    fig, meta = plot_comparison(c)

    assert [p["metric"] for p in meta["panels"]] == ["test_loss", "val_loss", "blimp_filtered", "superglue"]
    assert meta["rows"] == ["teachers", "students", "ensemble", "BabyLlama", "LTG-BERT", "sweep"]
    panels = {p["metric"]: p for p in meta["panels"]}
    bf = panels["blimp_filtered"]
    assert bf["violins"] == ["teachers", "students", "sweep"] and bf["points"] == ["ensemble"]
    assert bf["ticks"]["teachers"] == pytest.approx((70.0, 72.0, 74.0))
    assert bf["best"] == pytest.approx(70.0) and bf["references"] == {"BabyLlama": 69.8, "LTG-BERT": 60.6}
    sg = panels["superglue"]  # only the teachers have it; no sweep model has it: no violin, no cross
    assert sg["violins"] == ["teachers"] and sg["best"] is None and sg["references"] == {"LTG-BERT": 60.3}
    assert panels["val_loss"]["best"] == pytest.approx(3.3)
    assert "sweep: best trial t00 (by validation loss)" in meta["legend"]
    assert "BabyLlama" in meta["legend"] and "LTG-BERT" in meta["legend"]

    # the same, read from the artists themselves
    ax = fig.axes[2]
    assert ax.get_title().startswith("BLiMP filtered (%)")
    lines = {line.get_gid(): line for line in ax.lines if line.get_gid()}
    cross = lines["best"]
    assert cross.get_marker() == "x" and cross.get_xdata()[0] == pytest.approx(70.0)
    assert cross.get_ydata()[0] == meta["rows"].index("sweep")
    assert lines["reference:BabyLlama"].get_marker() == "^"
    assert lines["reference:LTG-BERT"].get_marker() == "s"
    assert lines["reference:LTG-BERT"].get_markerfacecolor() == "none"
    assert list(lines["ticks:teachers"].get_xdata()) == pytest.approx([70.0, 72.0, 74.0])
    assert lines["point:ensemble"].get_xdata()[0] == pytest.approx(75.0)
    violins = {col.get_gid() for col in ax.collections}
    assert {"violin:teachers", "violin:students", "violin:sweep"} <= violins
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == meta["rows"]


def test_single_model_and_constant_families_are_points_and_a_family_without_a_metric_is_skipped():
    families = {"one": pd.DataFrame({"val_loss": [3.0]}),
                "same": pd.DataFrame({"val_loss": [3.1, 3.1], "blimp_filtered": [0.7, 0.7]}),
                "spread": pd.DataFrame({"val_loss": [3.0, 3.4]})}
    c = compare(families)
    assert c.sweep_label is None and c.best is None
    fig, meta = plot_comparison(c)
    panels = {p["metric"]: p for p in meta["panels"]}
    assert panels["val_loss"]["points"] == ["one", "same"] and panels["val_loss"]["violins"] == ["spread"]
    assert panels["blimp_filtered"]["points"] == ["same"] and panels["blimp_filtered"]["violins"] == []
    assert panels["blimp_filtered"]["ticks"]["same"] == pytest.approx((70.0, 70.0, 70.0))
    md = markdown_table(c)
    assert "| one | 1 | 3.0000 | — |" in md and "| spread | 2 | 3.2000 ± 0.2828 | — |" in md


def test_a_metric_absent_from_every_family_is_left_out_with_a_note():
    families = {"a": pd.DataFrame({"val_loss": [3.0, 3.2], "blimp_filtered": [np.nan, np.nan]}),
                "b": pd.DataFrame({"val_loss": [2.8, 3.0]})}
    sweep = pd.DataFrame({"trial_id": ["x", "y"], "val_loss": [3.5, 3.6], "test_loss": [3.6, 3.7]})
    c = compare(families, sweep=sweep, best=sweep.iloc[0])
    assert [m.column for m in c.metrics] == ["val_loss"]
    assert {"test_loss", "blimp_filtered", "blimp_supplement", "superglue"} <= set(c.left_out)
    notes = "\n".join(c.notes)
    assert "test loss (`test_loss`): left out, no family has a value (the sweep has some)" in notes
    assert "BLiMP filtered (`blimp_filtered`): left out, no family has a value; babysweep evaluate" in notes
    fig, meta = plot_comparison(c)
    assert len(meta["panels"]) == 1 and len(fig.axes) == 1
    assert set(comparison_table(c)["metric"]) == {"val_loss"}
    table = comparison_table(c).set_index(["model", "metric"])
    assert table.loc[("a", "val_loss"), "mean"] == pytest.approx(3.1)
    assert table.loc[("a", "val_loss"), "sd"] == pytest.approx(np.std([3.0, 3.2], ddof=1))


def test_other_suites_get_a_panel_when_a_family_has_them():
    families = {"a": pd.DataFrame({"val_loss": [3.0, 3.2], "builtin_pairs": [0.8, 0.9], "builtin_pairs/p": 1.0})}
    c = compare(families)
    assert [m.column for m in c.metrics] == ["val_loss", "builtin_pairs"]
    table = comparison_table(c).set_index(["model", "metric"])
    assert table.loc[("a", "builtin_pairs"), "mean"] == pytest.approx(85.0)
    assert table.loc[("a", "builtin_pairs"), "label"] == "built-in pairs"


def test_diverged_and_unfinished_family_rows_are_left_out():
    df = pd.DataFrame({"state": ["TERMINATED", "TERMINATED", "RUNNING", "TERMINATED"],
                       "diverged": [False, "true", False, False], "val_loss": [3.0, np.inf, 2.0, 3.2]})
    c = compare({"f": df})
    table = comparison_table(c).set_index(["model", "metric"])
    assert table.loc[("f", "val_loss"), "n"] == 2 and table.loc[("f", "val_loss"), "mean"] == pytest.approx(3.1)
    assert "f: 2 model(s); 1 unfinished row(s) left out (1 RUNNING); 1 diverged row(s) left out" in c.notes


def test_superglue_is_matched_by_folder_name_or_by_the_checkpoint_its_run_names(tmp_path):
    df = pd.DataFrame({"trial_id": ["1", "2", "3"], "val_loss": [3.0, 3.1, 3.2],
                       "checkpoint": [str(tmp_path / "trial_1/checkpoint_000002/hf"), "", ""]})
    for folder, checkpoint, score in (("1x", tmp_path / "trial_1/checkpoint_000002/hf", 61.0),
                                      ("run-b", tmp_path / "trial_2/checkpoint_000001/hf", 63.0),
                                      ("stray", tmp_path / "elsewhere/hf", 70.0)):
        path = tmp_path / "finetune" / folder
        path.mkdir(parents=True)
        pd.DataFrame({"task": ["rte", "macro average"], "score": [score, score]}).to_csv(
            path / "finetune_all.csv", index=False)
        (path / "finetune_all.json").write_text(json.dumps({"checkpoint": str(checkpoint)}))
    out, notes = attach_superglue(df, tmp_path)
    assert list(out["superglue"][:2]) == pytest.approx([0.61, 0.63]) and np.isnan(out["superglue"][2])
    assert any("stray" in n and "matches no trial" in n for n in notes)


# ---------------------------------------------------------------------------------------------- bad input

def nothing_written(storage):
    return not any((storage / name / "analysis").exists() for name in ("teacher", "student", "ensemble", "sweep"))


def error_of(argv, capsys) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("babysweep: error: ") and err.count("\n") == 1 and "Traceback" not in err
    return err


def test_an_unknown_family_or_sweep(storage, capsys):
    err = error_of(["compare", "teacher", "ghost", "--storage", str(storage)], capsys)
    assert "no sweep named 'ghost'" in err
    err = error_of(["compare", "teacher", "--sweep", "nope", "--storage", str(storage)], capsys)
    assert "no sweep named 'nope'" in err
    assert nothing_written(storage)


def test_a_family_or_sweep_with_no_model_that_has_a_metric(storage, capsys):
    experiment(storage, "empty", [{"trial_id": "r0", "state": "RUNNING", "epoch": 1.0, "val_loss": 3.0},
                                  {"trial_id": "r1", "state": "TERMINATED", "epoch": 1.0, "val_loss": np.nan}])
    err = error_of(["compare", "teacher", "E=empty", "--storage", str(storage)], capsys)
    assert "family 'E'" in err and str(storage / "empty" / "results.csv") in err
    assert "no model with a value of any metric" in err and "1 unfinished row(s) left out (1 RUNNING)" in err
    experiment(storage, "notable", None)  # no results.csv yet
    err = error_of(["compare", "notable", "--storage", str(storage)], capsys)
    assert "family 'notable'" in err and "0 row(s)" in err
    experiment(storage, "sweep2", [{"trial_id": "t", "state": "TERMINATED", "epoch": 3.0, "config/num_epochs": 3,
                                    "val_loss": np.nan, "diverged": True}], space=True)
    err = error_of(["compare", "teacher", "--sweep", "sweep2", "--storage", str(storage)], capsys)
    assert "sweep 'sweep2'" in err and "no complete trial" in err
    err = error_of(["compare", "teacher", "--sweep", "sweep2", "--all-sweep-trials", "--storage", str(storage)],
                   capsys)
    assert "sweep 'sweep2 (sweep)'" in err and "no model with a value of any metric" in err
    assert nothing_written(storage)
    assert not any((storage / n / "analysis").exists() for n in ("empty", "notable", "sweep2"))


@pytest.mark.parametrize("content, message", [
    (None, "file not found"),
    ("a: [1, 2\n", "not valid YAML/JSON"),
    ("- 1\n- 2\n", "must map reference names to {metric: value}"),
    ("", "must map reference names"),
    ('{"BabyLlama": 69.8}', "BabyLlama: must be a mapping of metric: value"),
    ("BabyLlama:\n  blimp_filtered: high\n", "BabyLlama: blimp_filtered must be a finite number (got 'high')"),
    ("BabyLlama:\n  blimp_filtered: .nan\n", "blimp_filtered must be a finite number"),
    ("BabyLlama:\n  blimp_filterd: 69.8\n", "BabyLlama: unknown metric 'blimp_filterd'"),
    ("BabyLlama:\n  blimp_filtered: 69.8\n  marker: star\n", "marker 'star' is not one of"),
    ("BabyLlama:\n  blimp_filtered: 69.8\n  filled: maybe\n", "filled must be true or false"),
    ("BabyLlama:\n  marker: '^'\n", "BabyLlama: no metric value"),
])
def test_a_malformed_reference_file_is_named_with_its_problem(storage, capsys, content, message):
    path = storage.parent / "refs.yaml"
    if content is not None:
        path.write_text(content)
    err = error_of(["compare", "teacher", "--reference", str(path), "--storage", str(storage)], capsys)
    assert f"--reference {path}: " in err and message in err
    assert nothing_written(storage)


def test_a_reference_named_like_a_family_is_refused(storage, capsys):
    path = storage.parent / "refs.json"
    path.write_text(json.dumps({"teacher": {"val_loss": 3.0}}))
    err = error_of(["compare", "teacher", "--reference", str(path), "--storage", str(storage)], capsys)
    assert "reference 'teacher': the name is also that of a family" in err
    assert nothing_written(storage)


@pytest.mark.parametrize("argv, message", [
    (["teacher", "teacher"], "label 'teacher' given twice"),
    (["T=teacher", "T=student"], "label 'T' given twice ('T=teacher' and 'T=student')"),
    (["teacher", "S=student", "--sweep", "S=sweep"], "label 'S' given twice"),
    (["=teacher"], "FAMILY '=teacher': expected NAME or LABEL=NAME"),
    (["T="], "FAMILY 'T=': expected NAME or LABEL=NAME"),
])
def test_a_label_given_twice_or_empty(storage, capsys, argv, message):
    err = error_of(["compare", *argv, "--storage", str(storage)], capsys)
    assert message in err
    assert nothing_written(storage)


def test_read_references_returns_values_markers_and_filled(tmp_path):
    path = tmp_path / "refs.json"
    path.write_text(json.dumps({"BabyLlama (10M)": {"blimp_filtered": 69.8, "test_loss": 3.1},
                                "LTG-BERT (100M)": {"superglue": 68.4, "marker": "s", "filled": False}}))
    refs = read_references(path, known=["test_loss", "blimp_filtered", "superglue"])
    assert refs == {"BabyLlama (10M)": {"values": {"blimp_filtered": 69.8, "test_loss": 3.1}, "marker": None,
                                        "filled": True},
                    "LTG-BERT (100M)": {"values": {"superglue": 68.4}, "marker": "s", "filled": False}}
    with pytest.raises(AnalysisError, match="no family to compare"):
        compare({})
