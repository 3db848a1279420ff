"""Every table is trusted only after its check (issue 23, items 3, 6 and part of 7): a damaged results.csv,
evaluation.csv or history.csv is one line naming the file, its line, column and value, exit 2, for every command
that reads it, and never shown as data; no command writes into a folder or file of another kind, nor before its
arguments are checked; two `evaluate` runs of one sweep keep each other's scores (the tables lock), and
finetune-all into an earlier folder adds tasks. Fast: the legacy fixture (tests/fixtures/legacy_v0_1) copied into
tmp_path, fake fine-tuning runs; the real two-evaluate run on a swept experiment is marked slow."""
import json
import multiprocessing
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from conftest import copy_legacy
from babysweep.cli import main
from sweep.errors import SweepError
from sweep.table import (EVALUATION_SCHEMA, HISTORY_SCHEMA, RESULTS, merge_evaluation, merge_scored, read_history,
                         read_table)
from test_blimp import one_thread, random_checkpoint  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parents[1]
PAIRS = '{"sentence_good": "a cat sat .", "sentence_bad": "a cat sit ."}\n'


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("babysweep: error")]


def snapshot(folder: Path) -> dict:
    """Every file under `folder` (its relative path -> bytes): what a refused command must leave as it was."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def legacy(tmp_path):
    """(storage, the experiment folder, a folder of BLiMP-format pairs) with a copy of the legacy sweep."""
    runs = copy_legacy(tmp_path / "runs", ["legacy"])
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    (pairs / "p.jsonl").write_text(PAIRS)
    return runs, runs / "legacy", pairs


def commands(pairs) -> dict:
    """The readers of an experiment's tables, by name: argv after `babysweep`, without --storage."""
    return {"status": ["status", "legacy"], "report": ["report", "legacy"],
            "evaluate": ["evaluate", "legacy", "--blimp", str(pairs)],
            "correlate": ["analyze", "correlate", "legacy", "--bootstrap", "0"]}


def edit_csv(path: Path, change) -> None:
    """Rewrite a CSV file with `change(df)` applied to it, every cell read as text (as a hand edit leaves it)."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    changed = change(df)
    (df if changed is None else changed).to_csv(path, index=False)


def drop_column(column):
    return lambda df: df.drop(columns=[column])


def set_cell(line, column, value):
    """Set the cell of the row on file line `line` (the header is line 1)."""
    def change(df):
        df.loc[line - 2, column] = value
    return change


# ---------------------------------------------------------------------------------------------- damaged tables

# (file, damage, the message's start after the file's path); every reader of the experiment refuses it
DAMAGED = [
    ("results.csv", drop_column("state"), ": no state column"),
    ("results.csv", drop_column("val_loss"), ": no val_loss column"),
    ("results.csv", set_cell(3, "state", "DONE"), ": line 3: state 'DONE': not one of"),
    ("results.csv", set_cell(2, "val_loss", "zzz"), ": line 2: val_loss 'zzz': not a number"),
    ("results.csv", set_cell(4, "test_loss", "-0.5"), ": line 4: test_loss -0.5: not a loss, a number >= 0"),
    ("results.csv", set_cell(5, "val_loss", "inf"), ": line 5: val_loss inf: only a diverged trial's loss is "
                                                    "inf, and this row is not marked diverged"),
    ("results.csv", set_cell(2, "epoch", "-1"), ": line 2: epoch -1.0: not a finite number >= 0"),
    ("results.csv", set_cell(3, "diverged", "maybe"), ": line 3: diverged 'maybe': not a boolean"),
    ("results.csv", set_cell(5, "trial_id", "0ad21f93"), ": line 5: trial_id '0ad21f93' is also on line 4"),
    ("results.csv", set_cell(5, "blimp_filtered", "1.5"), ": line 5: blimp_filtered 1.5: not a score, a fraction "
                                                          "in [0, 1]"),
    ("evaluation.csv", set_cell(3, "test_loss", "zzz"), ": line 3: test_loss 'zzz': not a number"),
    ("evaluation.csv", set_cell(2, "blimp_filtered", "1.5"), ": line 2: blimp_filtered 1.5: not a score"),
    ("evaluation.csv", set_cell(3, "blimp/pronoun_case", "-0.1"), ": line 3: blimp/pronoun_case -0.1: not a score"),
    ("evaluation.csv", set_cell(2, "test_loss", "-2"), ": line 2: test_loss -2.0: not a loss, a number >= 0"),
    ("evaluation.csv", set_cell(2, "scored_val_loss", "inf"), ": line 2: scored_val_loss inf: not a loss"),
    ("evaluation.csv", drop_column("checkpoint"), ": no checkpoint column"),
]


DAMAGED_IDS = ["results-no-state", "results-no-val_loss", "results-unknown-state", "results-loss-zzz",
               "results-negative-loss", "results-inf-not-diverged", "results-negative-epoch", "results-diverged-maybe",
               "results-duplicate-trial", "results-score-1.5", "evaluation-test_loss-zzz", "evaluation-score-1.5",
               "evaluation-negative-paradigm", "evaluation-negative-loss", "evaluation-inf-loss",
               "evaluation-no-checkpoint"]


@pytest.mark.parametrize("file, damage, message", DAMAGED, ids=DAMAGED_IDS)
def test_a_damaged_table_is_one_line_naming_file_line_and_value_for_every_reader_and_left_as_it_is(
        legacy, capsys, file, damage, message):
    runs, exp, pairs = legacy
    edit_csv(exp / file, damage)
    before = snapshot(exp)
    for name, argv in commands(pairs).items():
        assert main([*argv, "--storage", str(runs)]) == 2, name
        err = error_lines(capsys.readouterr().err)
        assert len(err) == 1, (name, err)
        assert err[0].startswith(f"babysweep: error: {exp / file}{message}"), (name, err[0])
        assert snapshot(exp) == before, name  # nothing written: no report, no analysis, no score


def test_a_table_without_checkpoints_is_refused_by_evaluate_alone_which_needs_them(legacy, capsys):
    """A sweep whose trials have saved no model yet has no checkpoint column: status, report and correlate show it
    as it is; evaluate, which scores those models, says the table lacks the column."""
    runs, exp, pairs = legacy
    edit_csv(exp / "results.csv", drop_column("checkpoint"))
    argv = commands(pairs)
    before = snapshot(exp)
    assert main([*argv["evaluate"], "--storage", str(runs)]) == 2
    err = error_lines(capsys.readouterr().err)
    assert len(err) == 1 and err[0].startswith(f"babysweep: error: {exp / 'results.csv'}: no checkpoint column")
    assert snapshot(exp) == before
    for name in ("status", "report", "correlate"):
        assert main([*argv[name], "--storage", str(runs)]) == 0, name
        assert not error_lines(capsys.readouterr().err)


def test_a_sweep_that_has_just_started_is_not_a_damaged_table(legacy, capsys):
    """Rows PENDING and RUNNING with no report yet (no epoch, val_loss or checkpoint): status shows them."""
    runs, exp, _ = legacy
    (exp / "results.csv").write_text("trial_id,state,seed,config/lr\n0001,PENDING,3,0.001\n0002,RUNNING,4,0.002\n")
    (exp / "evaluation.csv").unlink()
    (exp / "history.csv").unlink()
    assert main(["status", "legacy", "--storage", str(runs)]) == 0
    out = capsys.readouterr().out
    assert "trials by state: RUNNING 1, PENDING 1" in out and "best: none yet" in out


def cut(exp: Path) -> None:
    """history.csv cut in the middle of its 6th line: the reports after it are lost, though results.csv has them."""
    path = exp / "history.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:5]) + lines[5][:20])


def tear_the_last_line(exp: Path) -> None:
    """A driver killed while it appended a report: the last line without its end (the table never recorded it)."""
    path = exp / "history.csv"
    path.write_text(path.read_text() + "0ad21f93,4.0,2.01")


def continued_after_a_tear(exp: Path) -> None:
    """Torn, then resumed: the next driver's line continued the torn one (a line with too many fields)."""
    path = exp / "history.csv"
    path.write_text(path.read_text() + "0ad21f93,4.0,2.0" + "0ad21f93,4.0,2.05,8.1,1795858330.5\n")


def bad_value(exp: Path) -> None:
    path = exp / "history.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[3] = lines[3].replace(lines[3].split(",")[2], "zzz")
    path.write_text("".join(lines))


@pytest.mark.parametrize("damage, message", [
    (cut, ": lacks reports that results.csv records (2 trial(s); trial 0ad21f93 reached epoch 3, its last report "
          "here: epoch 1)"),
    (bad_value, ": line 4: val_loss 'zzz': not a number"),
])
def test_a_history_cut_short_or_with_a_bad_value_is_refused_by_the_report(legacy, capsys, damage, message):
    runs, exp, pairs = legacy
    damage(exp)
    before = snapshot(exp)
    assert main(["report", "legacy", "--storage", str(runs)]) == 2
    err = error_lines(capsys.readouterr().err)
    assert len(err) == 1 and err[0].startswith(f"babysweep: error: {exp / 'history.csv'}{message}"), err
    assert snapshot(exp) == before
    # the commands that do not read the history are not stopped by it
    assert main(["status", "legacy", "--storage", str(runs)]) == 0
    assert main(["analyze", "correlate", "legacy", "--bootstrap", "0", "--storage", str(runs)]) == 0


@pytest.mark.parametrize("damage, skipped", [(tear_the_last_line, "line 10, the last, without its end"),
                                             (continued_after_a_tear, "line 10 with 5 fields expected")])
def test_a_torn_history_line_is_skipped_with_one_warning_and_the_report_is_written(legacy, capsys, damage, skipped):
    runs, exp, _ = legacy
    damage(exp)
    assert main(["report", "legacy", "--storage", str(runs)]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: {exp / 'history.csv'}: skipped 1 torn line(s) ({skipped}: a writer killed "
                        f"mid-line); the history holds the other 8 report(s)"], err
    assert not error_lines(err) and (exp / "report.html").is_file()
    history = read_history(exp / "history.csv", warn=lambda m: None)
    assert len(history) == 8 and 4.0 not in set(history["epoch"])


# ---------------------------------------------------------------------------------------------- the schema

@pytest.mark.parametrize("schema, text, message", [
    (RESULTS, "trial_id,state\n,RUNNING\n", "line 2: no trial_id"),
    (RESULTS, "trial_id,state\na,\n", "line 2: no state"),
    (RESULTS, "trial_id,state,val_loss\na,TERMINATED,inf\n", "line 2: val_loss inf"),
    (RESULTS, "trial_id,state,val_loss\na,TERMINATED,-inf\n", "line 2: val_loss -inf: not a number"),
    (RESULTS, "trial_id,state,wall_s\na,TERMINATED,-3\n", "line 2: wall_s -3.0: not a finite number >= 0"),
    (RESULTS, "trial_id,state,ewok,ewok/spatial\na,TERMINATED,0.5,2\n", "line 2: ewok/spatial 2.0: not a score"),
    (RESULTS, "trial_id,state,my_pairs,my_pairs/p\na,TERMINATED,1.01,0.5\n", "line 2: my_pairs 1.01: not a score"),
    (RESULTS, "trial_id,state,epoch\na,TERMINATED,1\n\nb,TERMINATED,x\n", "line 4: epoch 'x'"),  # blank lines count
    (EVALUATION_SCHEMA, "trial_id,checkpoint,test_loss\na,/c,inf\n", "line 2: test_loss inf"),
    (HISTORY_SCHEMA, "trial_id,epoch\na,1\n", "no val_loss column"),
])
def test_schema_rules(tmp_path, schema, text, message):
    path = tmp_path / "table.csv"
    path.write_text(text)
    with pytest.raises(SweepError) as e:
        read_table(path, schema)
    assert str(e.value).startswith(f"{path}: {message}") and "\n" not in str(e.value)


def test_what_the_schema_allows(tmp_path):
    """A diverged trial's inf, NaN as not measured, ids as text, every boolean spelling, a test function's negative
    objective (Hartmann's val_loss); inf in any report."""
    path = tmp_path / "results.csv"
    path.write_text("trial_id,state,epoch,val_loss,best_val_loss,diverged,blimp_filtered,blimp/x\n"
                    "nan,TERMINATED,1,inf,inf,true,,\n"
                    "12345678,RUNNING,,,,0,0.5,1\n"
                    "1e345678,LOST,0.5,3.2,3.2,No,0,0\n"
                    "h6,TERMINATED,1,-3.32,-3.32,False,,\n")
    table = read_table(path)
    assert list(table["trial_id"]) == ["nan", "12345678", "1e345678", "h6"]
    assert list(table["diverged"]) == [True, False, False, False] and table["val_loss"].iloc[0] == float("inf")
    history = tmp_path / "history.csv"
    history.write_text("trial_id,epoch,val_loss,wall_s,time\nnan,1,inf,1.0,5\n")
    assert read_history(history)["val_loss"].iloc[0] == float("inf")


def test_a_running_sweeps_table_writer_is_not_stopped_by_an_evaluation_table_broken_by_hand(legacy, capsys):
    _, exp, _ = legacy
    table = read_table(exp / "results.csv").drop(columns=["blimp_filtered"])
    edit_csv(exp / "evaluation.csv", set_cell(2, "blimp_filtered", "zzz"))
    with pytest.raises(SweepError, match="evaluation.csv: line 2: blimp_filtered 'zzz'"):
        merge_evaluation(table, exp / "evaluation.csv")
    for _ in range(2):  # the sweep's writer: the table as it is, one warning however often it saves
        assert merge_evaluation(table, exp / "evaluation.csv", strict=False).equals(table)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("warning: ") and "blimp_filtered 'zzz'" in err[0]


def test_merge_scored_updates_the_columns_scored_and_keeps_every_other():
    now = pd.DataFrame([{"trial_id": "a", "checkpoint": "/a", "blimp_filtered": 0.6, "ties_rule": "right"},
                        {"trial_id": "b", "checkpoint": "/b", "blimp_filtered": 0.7, "ties_rule": "right"}])
    merged = merge_scored(now, [{"trial_id": "a", "checkpoint": "/a", "ewok": 0.4},
                                {"trial_id": "a", "checkpoint": "/a2", "ewok": 0.3},   # another checkpoint: a row
                                {"trial_id": "b", "checkpoint": "/b", "blimp_filtered": 0.8}])
    rows = {(r["trial_id"], r["checkpoint"]): r for r in merged.to_dict("records")}
    assert list(rows) == [("a", "/a"), ("b", "/b"), ("a", "/a2")]
    assert rows[("a", "/a")]["blimp_filtered"] == 0.6 and rows[("a", "/a")]["ewok"] == 0.4
    assert rows[("b", "/b")]["blimp_filtered"] == 0.8 and rows[("b", "/b")]["ties_rule"] == "right"


# ---------------------------------------------------------------------------------------------- no lost update

def score_many(exp, suite, rounds, start=None):
    """What one evaluate does after each task, `rounds` times: record a score of `suite` for both scored checkpoints
    of the sweep, and for a checkpoint of its own, new each round (a lost update would lose that row for good)."""
    from analysis.evaluate import record_scores

    if start is not None:
        start.wait()
    for i in range(rounds):
        value = round(0.5 + i / (4 * rounds), 6)
        for tid, ckpt in (("0ad21f93", str(exp / "trial_0ad21f93/checkpoint_000002/hf")),
                          ("5fb92ac8", str(exp / "trial_5fb92ac8/checkpoint_000002/hf")),
                          ("27410418", f"/elsewhere/{suite}/{i}")):
            record_scores(exp, [{"trial_id": tid, "checkpoint": ckpt, suite: value, f"{suite}/p": value,
                                 "ties_rule": "wrong"}], "wrong")


@pytest.mark.parametrize("how", ["processes", "threads"])
def test_concurrent_evaluates_of_one_sweep_keep_every_suite(legacy, how):
    """Two evaluates of one sweep, each merging its own suite's scores into evaluation.csv and results.csv after
    every task, at the same time (separate processes, or threads with their own file descriptors: flock is per open
    file): every score of both is there at the end, and results.csv agrees with evaluation.csv."""
    _, exp, _ = legacy
    rounds = 10
    if how == "processes":
        ctx = multiprocessing.get_context("fork")
        start = ctx.Event()
        workers = [ctx.Process(target=score_many, args=(exp, suite, rounds, start)) for suite in ("aaa", "bbb")]
    else:
        start = threading.Event()
        workers = [threading.Thread(target=score_many, args=(exp, suite, rounds, start)) for suite in ("aaa", "bbb")]
    for w in workers:
        w.start()
    start.set()
    for w in workers:
        w.join(timeout=300)
        assert getattr(w, "exitcode", 0) == 0
    last = round(0.5 + (rounds - 1) / (4 * rounds), 6)
    evaluation = read_table(exp / "evaluation.csv")
    for suite in ("aaa", "bbb"):  # every row each run added
        own = evaluation[evaluation["checkpoint"].str.startswith(f"/elsewhere/{suite}/")]
        assert sorted(own["checkpoint"]) == sorted(f"/elsewhere/{suite}/{i}" for i in range(rounds))
    scored = evaluation[evaluation["checkpoint"].str.contains("trial_")]
    assert len(scored) == 2 and len(evaluation) == 2 + 2 * rounds
    for suite in ("aaa", "bbb"):
        assert (scored[suite] == last).all() and (scored[f"{suite}/p"] == last).all()
    assert scored["blimp_filtered"].notna().all()  # the legacy suite, scored before: kept
    table = read_table(exp / "results.csv").set_index("trial_id")
    for tid in ("0ad21f93", "5fb92ac8"):
        assert table.loc[tid, "aaa"] == last and table.loc[tid, "bbb"] == last
    assert not list(exp.glob(".*.tmp"))


# ---------------------------------------------------------------------------------------------- no overwrite

def glue_folder(tmp_path) -> Path:
    glue = tmp_path / "glue"
    glue.mkdir()
    for task, record in (("rte", {"sentence1": "Tom ran home.", "sentence2": "Tom moved.", "label": 0}),
                         ("wsc", {"text": "Mark told Pete he lied.", "span1_text": "Mark", "span2_text": "he",
                                  "span1_index": 0, "span2_index": 3, "label": 0}),
                         ("boolq", {"question": "is it red", "passage": "It is red.", "label": 1})):
        for split in ("train", "valid"):
            (glue / f"{task}.{split}.jsonl").write_text(json.dumps(record) + "\n")
    return glue


def finetune_argv(tmp_path, out, *extra):
    return ["finetune-all", "--checkpoint", str(tmp_path / "model"), "--glue", str(glue_folder(tmp_path)),
            "--out", str(out), "--tasks", "rte", *extra]


def other_files(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes\n")
    return out


def other_checkpoint(tmp_path):
    out = tmp_path / "earlier"
    out.mkdir()
    (out / "finetune_all.json").write_text(json.dumps({"checkpoint": str(tmp_path / "another-model")}))
    return out


# (what --out is, the message after its path); nothing is written, nothing made
FINETUNE_REFUSED = [
    (lambda tmp_path, legacy: legacy[1], "is an experiment folder (it holds sweep.json)", ()),
    (lambda tmp_path, legacy: other_files(tmp_path), "is not a finetune-all folder (notes.txt)", ()),
    (lambda tmp_path, legacy: other_checkpoint(tmp_path), "holds the fine-tuning of another checkpoint", ()),
]


@pytest.mark.parametrize("make, message, extra", FINETUNE_REFUSED, ids=["experiment", "other files", "other model"])
def test_finetune_all_never_writes_into_a_folder_of_another_kind(tmp_path, legacy, capsys, make, message, extra):
    out = make(tmp_path, legacy)
    before = snapshot(out)
    assert main(finetune_argv(tmp_path, out, *extra)) == 2
    err = error_lines(capsys.readouterr().err)
    assert len(err) == 1 and err[0] == err[0].split("\n")[0] and f"--out {out}: {message}" in err[0], err
    assert snapshot(out) == before and sorted(p.name for p in out.iterdir()) == sorted(
        {Path(k).parts[0] for k in before})


@pytest.mark.parametrize("extra, message", [
    (["--epochs-scale", "-1"], "--epochs-scale -1.0: must be a number > 0"),
    (["--epochs-scale", "nan"], "--epochs-scale nan: must be a number > 0"),
    (["--max-train-examples", "0"], "--max-train-examples 0: must be a whole number >= 1"),
    (["--num-threads", "0"], "--num-threads 0: must be a whole number >= 1"),
    (["--hparams", "HP"], "task rte: num_epochs: must be > 0"),
    (["--keep", "middle"], "--keep middle: must be one of"),
])
def test_finetune_all_checks_every_argument_before_its_out_folder_is_made(tmp_path, capsys, extra, message):
    (tmp_path / "hp.yaml").write_text("rte: {num_epochs: -2}\n")
    extra = [str(tmp_path / "hp.yaml") if e == "HP" else e for e in extra]
    out = tmp_path / "new" / "out"
    assert main(finetune_argv(tmp_path, out, *extra)) == 2
    err = error_lines(capsys.readouterr().err)
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "new").exists()


@pytest.fixture
def fake_runs(monkeypatch):
    """finetune-all without training: each task's run reports `scores[task]` at epochs 1 and 2 (the best at 2)."""
    import trainables.finetune
    import trainables.reporting

    scores, ran = {}, []

    def run_local(trainable, config, checkpoint_root, keep_last=None):
        task = config["task"]
        ran.append(task)
        if scores.get(task) == "fail":
            raise RuntimeError(f"{task}: killed")
        folder = Path(checkpoint_root) / "checkpoint_000001"
        (folder / "hf").mkdir(parents=True)
        results = [{"epoch": e, "score": scores[task] * e / 2, "metric": "accuracy", "val_loss": 1.0 / e,
                    "train_loss": 1.0, "n_valid": 10, "n_train": 20, "wall_s": 1.0 * e, "best_epoch": e}
                   for e in (1.0, 2.0)]
        return SimpleNamespace(results=results, checkpoints=[folder])

    monkeypatch.setattr(trainables.reporting, "run_local", run_local)
    monkeypatch.setattr(trainables.finetune, "load_pretrained", lambda checkpoint, n: None)
    return scores, ran


def test_finetune_all_run_again_into_its_folder_adds_tasks_and_replaces_only_its_own(tmp_path, fake_runs, capsys):
    scores, ran = fake_runs
    glue = glue_folder(tmp_path)
    out = tmp_path / "ft"
    base = ["finetune-all", "--checkpoint", str(tmp_path / "model"), "--glue", str(glue), "--out", str(out)]
    scores.update(rte=0.6, wsc=0.5)
    assert main([*base, "--tasks", "rte", "wsc"]) == 0
    scores.update(wsc=0.8, boolq=0.7)
    assert main([*base, "--tasks", "wsc", "boolq"]) == 0
    table = pd.read_csv(out / "finetune_all.csv")
    assert list(table["task"]) == ["rte", "wsc", "boolq", "macro average"]
    assert list(table["score"]) == pytest.approx([60, 80, 70, 70])  # wsc's new run replaced its row
    history = pd.read_csv(out / "history.csv")
    assert list(history["task"]) == ["rte", "rte", "wsc", "wsc", "boolq", "boolq"]
    assert list(history.loc[history["task"] == "wsc", "score"]) == pytest.approx([0.4, 0.8])
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["boolq", "rte", "wsc"]
    record = json.loads((out / "finetune_all.json").read_text())
    assert record["tasks"] == ["wsc", "boolq"] and sorted(record["runs"]) == ["boolq", "rte", "wsc"]
    assert record["checkpoint"] == str((tmp_path / "model").resolve())
    # a run killed after its first task: the marker and that task's row are there, and the folder is taken again
    scores.update(rte=0.9, boolq="fail")
    with pytest.raises(RuntimeError):
        main([*base, "--tasks", "rte", "boolq"])
    table = pd.read_csv(out / "finetune_all.csv")
    assert list(table["task"]) == ["rte", "wsc", "boolq", "macro average"] and table["score"].iloc[0] == 90
    scores.update(boolq=0.1)
    assert main([*base, "--tasks", "boolq"]) == 0
    assert list(pd.read_csv(out / "finetune_all.csv")["score"]) == pytest.approx([90, 80, 10, 60])


def test_a_run_of_mnli_replaces_the_mnli_mm_row_it_made():
    from sweep.finetune_all import merge_rows

    old = [{"task": "rte", "trained_as": "rte", "score": 1}, {"task": "mnli", "trained_as": "mnli", "score": 2},
           {"task": "mnli-mm", "trained_as": "mnli", "score": 3}, {"task": "wsc", "score": 4}]  # wsc: before trained_as
    new = [{"task": "mnli", "trained_as": "mnli", "score": 5}]
    assert [r["score"] for r in merge_rows(old, new, "mnli")] == [1, 5, 4]
    assert [r["score"] for r in merge_rows(old, [{"task": "wsc", "score": 6}], "wsc")] == [1, 2, 3, 6]
    assert [r["score"] for r in merge_rows(old, [{"task": "cola", "score": 7}], "cola")] == [1, 2, 3, 4, 7]


# evaluate MODEL --out FILE: what FILE may be
@pytest.mark.parametrize("existing", ["results.csv", "sweep.json", "text", "other json", "folder"])
def test_evaluate_out_never_overwrites_a_file_that_is_not_an_earlier_output(tmp_path, legacy, random_checkpoint,
                                                                          capsys, existing):
    exp = legacy[1]
    out = {"results.csv": exp / "results.csv", "sweep.json": exp / "sweep.json", "text": tmp_path / "notes.json",
           "other json": tmp_path / "other.json", "folder": tmp_path / "a-folder"}[existing]
    if existing == "text":
        out.write_text("not json at all\n")
    if existing == "other json":
        out.write_text(json.dumps({"model": "x"}))
    if existing == "folder":
        out.mkdir()
    before = out.read_bytes() if out.is_file() else None
    assert main(["evaluate", str(random_checkpoint), "--blimp", str(legacy[2]), "--out", str(out), "--quiet"]) == 2
    err = error_lines(capsys.readouterr().err)
    assert len(err) == 1 and err[0].startswith(f"babysweep: error: --out {out}: "), err
    assert (out.read_bytes() if out.is_file() else None) == before


def test_evaluate_out_replaces_an_earlier_output(tmp_path, legacy, random_checkpoint, capsys):
    out = tmp_path / "scores.json"
    out.write_text(json.dumps({"model": "an earlier one", "suites": {}, "columns": {}}))
    assert main(["evaluate", str(random_checkpoint), "--blimp", str(legacy[2]), "--out", str(out), "--quiet",
                 "--device", "cpu"]) == 0
    assert json.loads(out.read_text())["model"] == str(random_checkpoint)


@pytest.mark.parametrize("block", ["page is a folder", "figures folder is a file", "a figure is a folder"])
def test_report_checks_where_it_writes_before_any_figure(legacy, capsys, block):
    runs, exp, _ = legacy
    if block == "page is a folder":
        (exp / "report.html").mkdir()
        blocked = exp / "report.html"
    elif block == "figures folder is a file":
        (exp / "report").write_text("mine\n")
        blocked = exp / "report"
    else:
        (exp / "report" / "trials.png").mkdir(parents=True)
        blocked = exp / "report" / "trials.png"
    before = snapshot(exp)
    folders = sorted(p for p in exp.rglob("*") if p.is_dir())
    assert main(["report", "legacy", "--storage", str(runs)]) == 2
    err = error_lines(capsys.readouterr().err)
    assert len(err) == 1 and err[0].startswith(f"babysweep: error: {blocked}: "), err
    assert snapshot(exp) == before and sorted(p for p in exp.rglob("*") if p.is_dir()) == folders


# ---------------------------------------------------------------------------------------------- real runs (slow)

@pytest.mark.slow
def test_two_evaluates_of_one_real_sweep_at_once_keep_both_suites(small_sweep, tiny_data, tmp_path):
    """`evaluate --blimp` and `evaluate --ewok` of one sweep, as two processes at the same time (each its own Ray):
    both suites' scores of every trial end in evaluation.csv and results.csv."""
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(small_sweep / "small", runs / "small")  # the checkpoints stay where the table names them
    corpus = tiny_data.parent / "corpus"
    procs = [subprocess.Popen([sys.executable, "-m", "babysweep.cli", "evaluate", "small", "--storage", str(runs),
                               *suite, "--limit", "8"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
             for suite in (["--blimp", str(corpus / "blimp")], ["--ewok", str(corpus / "ewok")])]
    for p in procs:
        out, err = p.communicate(timeout=900)
        assert p.returncode == 0, err[-3000:]
    evaluation = read_table(runs / "small" / "evaluation.csv")
    table = read_table(runs / "small" / "results.csv")
    assert len(evaluation) == len(table) and evaluation["trial_id"].is_unique
    for frame in (evaluation, table):
        assert frame["builtin_pairs"].notna().all() and frame["ewok"].notna().all()
