"""The selection rules (sweep/selection.py), `rerun`'s choice and plan (sweep/rerun.py) and the table's types
(sweep/table.py) on small hand-made tables with a known answer. Tables go through a real CSV file and read_table,
as every reader's do. No Ray, no training."""
import math

import numpy as np
import pandas as pd
import pytest

from sweep.errors import SweepError
from sweep.experiment import Experiment
from sweep.rerun import BASELINE, plan_runs, select, trial_config
from sweep.selection import RANKED, best_summary, best_trial, complete_trials
from sweep.table import parse_bool, read_table

COLUMNS = ["trial_id", "state", "epoch", "val_loss", "diverged", "config/num_epochs"]


def csv_table(tmp_path, rows, columns=COLUMNS, name="results.csv") -> pd.DataFrame:
    """rows of values (None: an empty cell) -> results.csv -> read_table."""
    path = tmp_path / name
    cell = lambda v: "" if v is None else str(v)
    path.write_text(",".join(columns) + "\n" + "".join(",".join(map(cell, r)) + "\n" for r in rows))
    return read_table(path)


def ids(ranked) -> list:
    return list(ranked["trial_id"])


# ---------------------------------------------------------------------------------------------- complete_trials / best

def test_best_is_the_lowest_final_val_loss_among_finished_undiverged_trials_that_reached_their_end(tmp_path):
    t = csv_table(tmp_path, [
        ("a0000001", "TERMINATED", 3.0, 2.5, False, 3),
        ("a0000002", "TERMINATED", 3.0, 2.2, False, 3),   # the best
        ("a0000003", "TERMINATED", 1.0, 1.9, False, 3),   # stopped at the first rung: lower loss, not comparable
        ("a0000004", "RUNNING", 3.0, 1.5, False, 3),
        ("a0000005", "PAUSED", 1.0, 1.0, False, 3),
        ("a0000006", "TERMINATED", 3.0, 1.2, True, 3),    # diverged
        ("a0000007", "ERROR", 3.0, 1.1, False, 3),
        ("a0000008", "LOST", 3.0, 1.0, False, 3),
    ])
    ranked, notes = complete_trials(t, budget_max=3)
    assert ids(ranked) == ["a0000002", "a0000001"]
    assert notes == ["1 diverged trial(s) left out", "1 trial(s) stopped early by the scheduler left out"]
    assert best_trial(t, budget_max=3)["trial_id"] == "a0000002"


def test_the_longest_run_is_not_the_best(tmp_path):
    t = csv_table(tmp_path, [
        ("long", "TERMINATED", 5.0, 2.4, False, 5),
        ("short", "TERMINATED", 2.0, 2.0, False, 2),    # its own schedule was 2 epochs: complete, and best
        ("capped", "TERMINATED", 5.0, 2.3, False, 8),   # 8 epochs asked, the budget cap is 5: complete
        ("cut", "TERMINATED", 4.0, 1.0, False, 8),      # stopped before the cap
    ])
    ranked, notes = complete_trials(t, budget_max=5)
    assert ids(ranked) == ["short", "capped", "long"]
    assert notes == ["1 trial(s) stopped early by the scheduler left out"]
    assert best_trial(t, budget_max=5)["trial_id"] == "short"


def test_a_trial_stopped_at_a_rung_is_excluded_even_when_it_is_alone(tmp_path):
    t = csv_table(tmp_path, [("rung", "TERMINATED", 1.0, 2.0, False, 3)])
    assert best_trial(t, budget_max=3) is None
    assert best_trial(t, budget_max=1) is not None  # the same row, with a budget that ends at that rung


def test_fractional_budgets_compare_with_a_tolerance(tmp_path):
    t = csv_table(tmp_path, [("a", "TERMINATED", 1.4999999999999, 2.0, False, 3),
                             ("b", "TERMINATED", 1.4, 1.0, False, 3)])
    assert ids(complete_trials(t, budget_max=1.5)[0]) == ["a"]


def test_without_num_epochs_column_the_budget_cap_is_the_end(tmp_path):
    t = csv_table(tmp_path, [("a", "TERMINATED", 3.0, 2.0, False), ("b", "TERMINATED", 2.0, 1.0, False)],
                  columns=COLUMNS[:-1])
    assert ids(complete_trials(t, budget_max=3)[0]) == ["a"]


@pytest.mark.parametrize("yes, no", [("True", "False"), ("true", "false"), ("1", "0"), ("1", "False"),
                                     ("yes", "no"), (" TRUE ", "")])
def test_diverged_written_any_way_is_excluded(tmp_path, yes, no):
    t = csv_table(tmp_path, [("bad", "TERMINATED", 3.0, 1.0, yes, 3), ("good", "TERMINATED", 3.0, 2.0, no, 3)])
    assert t["diverged"].dtype == bool and list(t["diverged"]) == [True, False]
    assert best_trial(t, budget_max=3)["trial_id"] == "good"


def test_diverged_as_booleans_in_a_frame_is_excluded():
    t = pd.DataFrame({"trial_id": ["bad", "good"], "state": "TERMINATED", "epoch": 3.0, "val_loss": [1.0, 2.0],
                      "diverged": [True, False], "config/num_epochs": 3})
    ranked, notes = complete_trials(t, budget_max=3)
    assert ids(ranked) == ["good"] and notes == ["1 diverged trial(s) left out"]


def test_infinite_or_missing_final_metric_is_excluded(tmp_path):
    # read_table refuses inf on a row not marked diverged (tests/test_tables_trust.py): the rule itself, on a table
    # built in memory, still leaves such a row out
    t = csv_table(tmp_path, [("inf", "TERMINATED", 3.0, "inf", True, 3), ("nan", "TERMINATED", 3.0, None, False, 3),
                             ("ok", "TERMINATED", 3.0, 4.0, False, 3)]).assign(diverged=False)
    assert ids(complete_trials(t, budget_max=3)[0]) == ["ok"]


def test_mode_max_ranks_a_score_metric_highest_first(tmp_path):
    columns = COLUMNS + ["score"]
    t = csv_table(tmp_path, [("a", "TERMINATED", 3.0, 0.5, False, 3, 0.61),
                             ("b", "TERMINATED", 3.0, 0.9, False, 3, 0.74),   # worse val_loss, better score
                             ("c", "TERMINATED", 3.0, 0.7, False, 3, 0.66),
                             ("d", "TERMINATED", 1.0, 0.1, False, 3, 0.99)],  # cut
                  columns=columns)
    ranked, _ = complete_trials(t, budget_max=3, metric="score", mode="max")
    assert ids(ranked) == ["b", "c", "a"]
    assert best_trial(t, budget_max=3, metric="score", mode="max")["trial_id"] == "b"
    assert best_trial(t, budget_max=3)["trial_id"] == "a"  # by val_loss, min: another answer


def test_with_keep_best_a_trial_is_ranked_by_the_model_it_kept_not_its_last_epoch(tmp_path):
    columns = COLUMNS + ["score", "checkpoint_score", "checkpoint_epoch"]
    t = csv_table(tmp_path, [("a", "TERMINATED", 10.0, 0.7, False, 10, 0.51, 0.51, 10),  # its last epoch is its best
                             ("b", "TERMINATED", 10.0, 0.7, False, 10, 0.46, 0.54, 3),   # collapsed after epoch 3
                             ("c", "TERMINATED", 10.0, 0.7, False, 10, 0.48, None, None)],  # no kept model recorded
                  columns=columns)
    ranked, _ = complete_trials(t, budget_max=10, metric="score", mode="max", keep="best")
    assert ids(ranked) == ["b", "a", "c"]
    assert list(ranked[RANKED]) == [0.54, 0.51, 0.48]  # c: its final score stands in
    best = best_trial(t, budget_max=10, metric="score", mode="max", keep="best")
    assert best_summary(best, "score", "best") == "score 0.5400 (kept model: epoch 3; final 0.4600 at epoch 10)"
    last = best_trial(t, budget_max=10, metric="score", mode="max")  # keep=last: the final score
    assert last["trial_id"] == "a" and best_summary(last, "score") == "score 0.5100 at epoch 10"


def finetune_sweep(tmp_path, results: str, **record) -> Experiment:
    """A fine-tuning sweep's folder (its space: score, max, 1-3 epochs) holding results.csv `results`."""
    exp = tmp_path / "ft"
    exp.mkdir()
    (exp / "space.yaml").write_text("trainable: finetune\nmetric: score\nmode: max\nbudget: {min: 1, max: 3}\n"
                                    "parameters:\n  lr: {log_uniform: [1.0e-5, 1.0e-3]}\n")
    (exp / "results.csv").write_text(results)
    return Experiment(exp, {"kind": "sweep", "space": "space.yaml", **record})


def test_a_finetune_sweep_that_keeps_best_reruns_and_reports_by_the_kept_model(tmp_path):
    kept = finetune_sweep(tmp_path, "trial_id,state,epoch,val_loss,score,checkpoint_score,checkpoint_epoch,"
                                    "config/num_epochs\nf1,TERMINATED,3.0,0.61,0.70,0.70,3,3\n"
                                    "f2,TERMINATED,3.0,0.64,0.60,0.80,1,3\n", keep="best")
    last = Experiment(kept.path, {"kind": "sweep", "space": "space.yaml"})
    assert kept.best_trial()["trial_id"] == "f2" and "kept" in kept.best_rule()
    assert [r["trial_id"] for r in select(kept, top_k=1)[0]] == ["f2"]
    assert last.best_trial()["trial_id"] == "f1" and "final score" in last.best_rule()


@pytest.mark.parametrize("mode, metric", [("min", "val_loss"), ("max", "val_loss")])
def test_ties_are_broken_by_the_lowest_trial_id(tmp_path, mode, metric):
    t = csv_table(tmp_path, [("c0000003", "TERMINATED", 3.0, 2.0, False, 3),
                             ("a0000001", "TERMINATED", 3.0, 2.0, False, 3),
                             ("b0000002", "TERMINATED", 3.0, 2.0, False, 3)])
    ranked, _ = complete_trials(t, budget_max=3, metric=metric, mode=mode)
    assert ids(ranked) == ["a0000001", "b0000002", "c0000003"]


def test_no_complete_trial_gives_none(tmp_path):
    t = csv_table(tmp_path, [("a", "RUNNING", 1.0, 2.0, False, 3), ("b", "TERMINATED", 1.0, 2.5, False, 3),
                             ("c", "TERMINATED", 3.0, 1.0, True, 3)])
    assert best_trial(t, budget_max=3) is None
    assert best_trial(pd.DataFrame(columns=["trial_id", "state", "epoch", "val_loss"]), budget_max=3) is None
    assert best_trial(t.drop(columns=["val_loss"]), budget_max=3) is None  # no metric column yet


# ---------------------------------------------------------------------------------------------- rerun.select

RERUN_COLUMNS = COLUMNS + ["seed", "config/lr", "config/batch_size", "config/seed", "config/preset"]


@pytest.fixture
def sweep_table(tmp_path):
    return csv_table(tmp_path, [
        ("t0000004", "TERMINATED", 3.0, 2.3, False, 3, 0, 0.004, 16, 0, "tiny"),
        ("t0000002", "TERMINATED", 3.0, 2.1, False, 3, 0, 0.002, 32, 0, "tiny"),
        ("t0000003", "TERMINATED", 3.0, 2.1, False, 3, 0, 0.003, 8, 0, "tiny"),
        ("t0000001", "TERMINATED", 1.0, 1.0, False, 3, 0, 0.001, 64, 0, "tiny"),   # cut at a rung
        ("t0000005", "TERMINATED", 3.0, 0.5, True, 3, 0, 0.5, None, 0, "tiny"),    # diverged
    ], columns=RERUN_COLUMNS)


def test_select_top_k_best_first_with_the_left_out_notes(sweep_table):
    rows, notes = select(sweep_table, budget_max=3, top_k=3)
    assert [r["trial_id"] for r in rows] == ["t0000002", "t0000003", "t0000004"]
    assert notes == ["1 diverged trial(s) left out", "1 trial(s) stopped early by the scheduler left out"]


def test_select_notes_a_tie_at_the_cut(sweep_table):
    rows, notes = select(sweep_table, budget_max=3, top_k=1)
    assert [r["trial_id"] for r in rows] == ["t0000002"]
    assert any("tie at the cut" in n and "t0000002, t0000003" in n and "broken by trial id" in n for n in notes)
    _, notes = select(sweep_table, budget_max=3, top_k=2)  # the tie is inside the cut: nothing to say
    assert not any("tie" in n for n in notes)


def test_select_top_k_above_the_eligible_count_takes_them_all_and_says_so(sweep_table):
    rows, notes = select(sweep_table, budget_max=3, top_k=5)
    assert len(rows) == 3
    assert "--top-k 5: only 3 eligible trial(s); re-running all of them" in notes


def test_select_named_trials_in_the_order_given(sweep_table):
    rows, notes = select(sweep_table, budget_max=3, trials=["t0000004", "t0000001"])
    assert [r["trial_id"] for r in rows] == ["t0000004", "t0000001"] and notes == []


def test_select_bad_requests_raise_sweep_error(sweep_table):
    with pytest.raises(SweepError, match="--trials nosuch: no such trial"):
        select(sweep_table, budget_max=3, trials=["t0000002", "nosuch"])
    with pytest.raises(SweepError, match="--top-k 0: must be at least 1"):
        select(sweep_table, budget_max=3, top_k=0)
    with pytest.raises(SweepError, match="nothing to re-run"):
        select(sweep_table[sweep_table["trial_id"] == "t0000001"], budget_max=3, top_k=1)


def test_select_notes_a_tie_in_the_spaces_own_metric(tmp_path):
    exp = finetune_sweep(tmp_path, "trial_id,state,epoch,val_loss,score,config/num_epochs\n"
                                   "f1,TERMINATED,3.0,0.61,0.75,3\nf2,TERMINATED,3.0,0.64,0.75,3\n"
                                   "f3,TERMINATED,3.0,0.60,0.70,3\n")
    rows, notes = select(exp, top_k=1)
    assert [r["trial_id"] for r in rows] == ["f1"]  # score 0.75 twice: the lower id
    assert any("tie at the cut" in n and "f1, f2" in n for n in notes), notes


# ---------------------------------------------------------------------------------------------- rerun.plan_runs

def test_plan_runs_new_seeds_skip_the_sweeps_and_the_baseline_is_added(sweep_table):
    rows, _ = select(sweep_table, budget_max=3, top_k=2)
    runs, seeds = plan_runs(rows, seeds=3, original_seeds={0, 1000, 1002}, baseline_config={"lr": 0.003, "seed": 0},
                            seed_base=1000)
    assert seeds == [1001, 1003, 1004]
    assert [(r["source_trial_id"], r["seed"]) for r in runs] == [
        ("t0000002", 1001), ("t0000002", 1003), ("t0000002", 1004),
        ("t0000003", 1001), ("t0000003", 1003), ("t0000003", 1004),
        (BASELINE, 1001), (BASELINE, 1003), (BASELINE, 1004)]
    first = runs[0]
    assert first == {"num_epochs": 3, "lr": 0.002, "batch_size": 32, "seed": 1001, "data_seed": 0, "preset": "tiny",
                     "source_trial_id": "t0000002"}  # a new initialisation on the sweep's data order (seed 0)
    assert type(first["batch_size"]) is int and type(first["num_epochs"]) is int and type(first["lr"]) is float
    assert runs[-1] == {"lr": 0.003, "seed": 1004, "data_seed": 0, "source_trial_id": BASELINE}


@pytest.mark.parametrize("reseed, seed, data_seed", [("init", 1000, 5), ("data", 77, 1000), ("both", 1000, 1000)])
def test_plan_runs_reseed_says_what_a_new_seed_changes(reseed, seed, data_seed):
    row = pd.Series({"trial_id": "t1", "config/lr": 0.002, "config/seed": 77, "config/data_seed": 5})
    runs, _ = plan_runs([row], seeds=2, original_seeds={77, 5}, reseed=reseed)
    assert (runs[0]["seed"], runs[0]["data_seed"]) == (seed, data_seed)


def test_plan_runs_for_a_trainable_with_one_seed():
    row = pd.Series({"trial_id": "t1", "config/lr": 0.002, "config/seed": 77})
    runs, _ = plan_runs([row], seeds=2, original_seeds={77}, data_seed=False)
    assert [r["seed"] for r in runs] == [1000, 1001] and "data_seed" not in runs[0]


def test_plan_runs_without_baseline(sweep_table):
    rows, _ = select(sweep_table, budget_max=3, trials=["t0000004"])
    runs, seeds = plan_runs(rows, seeds=2, original_seeds=set())
    assert seeds == [1000, 1001] and [r["source_trial_id"] for r in runs] == ["t0000004", "t0000004"]


def test_trial_config_turns_table_floats_back_into_integers(sweep_table):
    # batch_size has an empty cell in the column, so pandas read it as floats
    row = sweep_table.set_index("trial_id", drop=False).loc["t0000004"]
    assert sweep_table["config/batch_size"].dtype == float
    config = trial_config(row)
    assert config["batch_size"] == 16 and type(config["batch_size"]) is int
    assert "batch_size" not in trial_config(sweep_table.set_index("trial_id", drop=False).loc["t0000005"])
    with pytest.raises(SweepError, match="no configuration"):
        trial_config(pd.Series({"trial_id": "x", "state": "TERMINATED"}))


# ---------------------------------------------------------------------------------------------- the table's types

def test_read_table_keeps_trial_ids_as_strings(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("trial_id,state,source_trial_id,diverged\n12345678,TERMINATED,00001234,False\n"
                    "1e345678,TERMINATED,1e345678,True\n00000042,PAUSED,,\n")
    t = read_table(path)
    assert list(t["trial_id"]) == ["12345678", "1e345678", "00000042"]
    assert all(type(v) is str for v in t["trial_id"])
    assert list(t["source_trial_id"][:2]) == ["00001234", "1e345678"]
    assert t["diverged"].dtype == bool and list(t["diverged"]) == [False, True, False]  # an empty cell: False


@pytest.mark.parametrize("value, expected", [
    ("True", True), ("true", True), (" yes ", True), ("1", True), ("False", False), ("0", False), ("", False),
    ("no", False), (None, False), (math.nan, False), (True, True), (False, False), (np.bool_(True), True),
    (1, True), (0.0, False)])
def test_parse_bool(value, expected):
    assert parse_bool(value) is expected


def test_complete_trials_is_a_named_pair(tmp_path):
    t = csv_table(tmp_path, [("a", "TERMINATED", 3.0, 2.0, True, 3), ("b", "TERMINATED", 3.0, 2.5, False, 3)])
    result = complete_trials(t, budget_max=3)
    trials, notes = result  # still reads as the pair it was
    assert ids(result.trials) == ["b"] == ids(trials) and result.notes == notes == ["1 diverged trial(s) left out"]
