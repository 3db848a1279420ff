"""finetune-all says what it did (issue 25): the tasks it leaves out and why, the mean named with its tasks and the
paper's set beside it, the warm-up rule of short runs, quick runs marked as such, configurations taken from each
task's sweep (sweep/finetune_sources.py). Fast: the folders are hand-made; the real runs are in test_finetune.py
and test_replicate.py (finetune-family)."""
import json

import pandas as pd
import pytest

from conftest import shared_data
from sweep.finetune_table import (MACRO_AVERAGE, PAPER_SUPERGLUE, format_table, skipped_tasks, warmup_rule,
                                  with_average)
from trainables import glue
from trainables.errors import ConfigError


def write_lines(path, n, record):
    path.write_text("".join(json.dumps(record) + "\n" for _ in range(n)))


RTE = {"sentence1": "Tom ran home.", "sentence2": "Tom moved.", "label": 0}


def test_every_task_the_glue_folder_cannot_run_is_listed_with_its_reason():
    root = shared_data("glue_filtered")  # boolq and multirc have no train file; cola, sst2, qnli, mnli-mm no file
    run = glue.available_tasks(root)
    assert run == ["mrpc", "qqp", "mnli", "rte", "wsc"]
    skipped = skipped_tasks(root, run)
    assert skipped["boolq"] == "no train file (boolq.train.jsonl)"
    assert skipped["multirc"] == "no train file (multirc.train.jsonl)"
    assert skipped["cola"] == "no train file (cola.train.jsonl) and no validation file (cola.valid.jsonl)"
    assert skipped["mnli-mm"].startswith("no mismatched validation file (mnli-mm.valid.jsonl)")
    assert set(skipped) | set(run) == set(PAPER_SUPERGLUE)  # every task of the paper's set is run or said
    # asked-for tasks: only what they leave out (mnli's mismatched file), not the rest of the paper's set
    assert skipped_tasks(root, ["mnli", "rte"], ["mnli", "rte"]) == {"mnli-mm": skipped["mnli-mm"]}
    assert skipped_tasks(root, ["rte"], ["rte"]) == {}


def test_the_mean_row_names_its_tasks_and_the_printout_the_papers_missing_ones():
    rows = [{"task": t, "metric": "accuracy", "score": s, "epoch": 1.0, "epochs": 2.0}
            for t, s in (("mnli", 60.0), ("rte", 50.0), ("wsc", 70.0))]
    table = with_average(rows)
    last = table.iloc[-1]
    assert last["task"] == MACRO_AVERAGE and last["score"] == pytest.approx(60.0)
    assert last["metric"] == "mean of 3: mnli, rte, wsc" and last["n_tasks"] == 3 and last["tasks"] == "mnli rte wsc"
    text = format_table(table, {"boolq": "no train file (boolq.train.jsonl)"},
                        "quick run: the first 64 train examples of each task; not comparable with full fine-tuning")
    lines = text.splitlines()
    assert any(line.startswith("mean") and "60.0" in line and "(mean of 3: mnli, rte, wsc)" in line for line in lines)
    lacking = next(line for line in lines if line.startswith("not the paper's SuperGLUE mean"))
    assert "cola, sst2, mrpc, qqp, mnli-mm, qnli, boolq, multirc" in lacking
    assert "skipped boolq: no train file (boolq.train.jsonl)" in lines
    assert lines[-1].startswith("quick run") and "not comparable" in lines[-1]
    # over the paper's whole set, nothing is said to lack
    whole = with_average([{"task": t, "metric": "accuracy", "score": 50.0, "epoch": 1.0, "epochs": 1.0}
                          for t in PAPER_SUPERGLUE])
    assert "not the paper's" not in format_table(whole)


@pytest.mark.parametrize("n, batch, epochs, warmup, want", [
    (64, 32, 2, 500, 1),        # 4 steps: Table 4's 500-step warm-up would never let the learning rate rise
    (64, 8, 2, 200, 2),         # 16 steps: 10% of them
    (2490, 2, 2, 200, None),    # RTE in full with Table 4's settings: 200 of 2490 steps, kept
    (40, 4, 10, 50, None),      # 50 of 100 steps: at the limit, kept
])
def test_a_warm_up_over_half_the_run_is_scaled_to_a_tenth_with_one_line(tmp_path, n, batch, epochs, warmup, want):
    write_lines(tmp_path / "rte.train.jsonl", n, RTE)
    config = {"batch_size": batch, "num_epochs": epochs, "num_warmup_steps": warmup}
    line = warmup_rule("rte", config, tmp_path)
    if want is None:
        assert line is None and config["num_warmup_steps"] == warmup
    else:
        assert config["num_warmup_steps"] == want
        assert line.startswith(f"rte: num_warmup_steps {warmup} is ") and f"scaled to {want}" in line
        assert "\n" not in line


def test_the_majority_baseline_is_the_score_of_the_most_common_train_label(tmp_path):
    from sweep.finetune_table import majority_baseline

    (tmp_path / "mrpc.train.jsonl").write_text("".join(json.dumps(
        {"sentence1": "a", "sentence2": "b", "label": y}) + "\n" for y in [1, 1, 0]))
    (tmp_path / "mrpc.valid.jsonl").write_text("".join(json.dumps(
        {"sentence1": "a", "sentence2": "b", "label": y}) + "\n" for y in [1, 0, 0, 0]))
    # always 1: precision 1/4, recall 1: F1 = 2 * 1 / (2 * 1 + 3 + 0) = 0.4
    assert majority_baseline("mrpc", tmp_path) == pytest.approx(40.0)
    (tmp_path / "rte.train.jsonl").write_text("".join(json.dumps(dict(RTE, label=y)) + "\n" for y in [0, 1, 1]))
    (tmp_path / "rte.valid.jsonl").write_text("".join(json.dumps(dict(RTE, label=y)) + "\n" for y in [0, 1, 1, 1]))
    assert majority_baseline("rte", tmp_path) == pytest.approx(75.0)
    assert majority_baseline("rte", tmp_path, max_eval_examples=1) == pytest.approx(0.0)  # the scored examples
    root = shared_data("glue_filtered")
    assert 45 < majority_baseline("rte", root) < 55  # RTE's validation set is near balanced


def test_max_train_examples_counts_in_the_warm_up_rule(tmp_path):
    write_lines(tmp_path / "rte.train.jsonl", 2490, RTE)
    config = {"batch_size": 32, "num_epochs": 2, "num_warmup_steps": 200, "max_train_examples": 64}
    assert warmup_rule("rte", config, tmp_path) is not None and config["num_warmup_steps"] == 1


def test_a_malformed_per_task_sweep_flag_is_one_line_exit_2(tmp_path, capsys):
    from babysweep.cli import main

    write_lines(tmp_path / "rte.train.jsonl", 8, RTE)
    write_lines(tmp_path / "rte.valid.jsonl", 8, RTE)
    for value, want in (("rte", "--sweep rte: must be TASK=FOLDER"), ("nope=x", "task 'nope': unknown task"),
                        (f"rte={tmp_path}", f"--sweep rte={tmp_path}: not an experiment folder")):
        code = main(["finetune-all", "--checkpoint", str(tmp_path), "--glue", str(tmp_path), "--out",
                     str(tmp_path / "out"), "--sweep", value])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and want in err[0], err
        assert not (tmp_path / "out").exists()


def test_from_sweeps_of_a_folder_without_sweeps_is_one_line_exit_2(tmp_path, capsys):
    from babysweep.cli import main

    write_lines(tmp_path / "rte.train.jsonl", 8, RTE)
    write_lines(tmp_path / "rte.valid.jsonl", 8, RTE)
    (tmp_path / "runs").mkdir()
    code = main(["finetune-all", "--checkpoint", str(tmp_path), "--glue", str(tmp_path), "--out",
                 str(tmp_path / "out"), "--from-sweeps", str(tmp_path / "runs"), "--tasks", "rte"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no fine-tuning sweep of task rte (sweeps of: none)" in err[0], err
    assert not (tmp_path / "out").exists()


def test_family_superglue_means_over_another_task_set_are_named_and_left_out(tmp_path):
    from analysis.compare_inputs import attach_superglue

    df = pd.DataFrame({"trial_id": ["a", "b", "c"], "state": ["TERMINATED"] * 3})
    for tid, tasks in (("a", ["rte", "wsc"]), ("b", ["wsc", "rte"]), ("c", ["rte"])):
        folder = tmp_path / "finetune" / tid
        folder.mkdir(parents=True)
        with_average([{"task": t, "metric": "accuracy", "score": 60.0} for t in tasks]).to_csv(
            folder / "finetune_all.csv", index=False)
    out, notes = attach_superglue(df, tmp_path)
    assert list(out["superglue"][:2]) == pytest.approx([0.6, 0.6]) and pd.isna(out["superglue"][2])
    assert any(n.startswith("trial c: its SuperGLUE mean is over rte, not the family's rte, wsc") for n in notes)
    assert any("SuperGLUE: mean of 2 tasks (rte, wsc) for 2 model(s)" in n for n in notes)


def test_a_sweep_that_is_not_a_fine_tuning_sweep_is_refused(tmp_path):
    from conftest import copy_legacy
    from sweep.experiment import load_experiment
    from sweep.finetune_sources import best_choice

    storage = copy_legacy(tmp_path / "runs")  # a pretraining sweep
    with pytest.raises(ConfigError, match=r"is not a fine-tuning sweep"):
        best_choice(load_experiment("legacy", storage), "rte")
