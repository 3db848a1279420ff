"""sweep.folder.reconcile_with_table on synthetic experiment folders: Ray's experiment state (its real format, the
trial entries copied from the babysweep 0.1 fixture) against a hand-written results table. No Ray run."""
import json
import pickle
from pathlib import Path

import pytest

from conftest import copy_legacy
from sweep.folder import reconcile_with_table
from sweep.table import read_table

FIXTURE = Path(__file__).parent / "fixtures" / "legacy_v0_1"
_state = json.loads(next((FIXTURE / "legacy").glob("experiment_state-*.json")).read_text())
TRIAL_TEMPLATE = json.loads(_state["trial_data"][0][0])  # one trial as Ray serialises it
RUNTIME_TEMPLATE = _state["trial_data"][0][1]             # its runtime metadata (a JSON string too)
RUNNER_DATA, STATS = _state["runner_data"], _state["stats"]
STATE_NAME = "experiment_state-2030-01-01_00-00-00.json"


def ray_state(exp: Path, trials, name=STATE_NAME) -> Path:
    """Ray's experiment_state-<time>.json: {"trial_data": [[trial JSON, runtime JSON], ...], "runner_data", "stats"}."""
    data = []
    for trial_id, status in trials:
        trial = dict(TRIAL_TEMPLATE, trial_id=trial_id, status=status)
        data.append([json.dumps(trial, indent=2), RUNTIME_TEMPLATE])
    exp.mkdir(parents=True, exist_ok=True)
    path = exp / name
    path.write_text(json.dumps({"trial_data": data, "runner_data": RUNNER_DATA, "stats": STATS}))
    return path


def table(exp: Path, rows, proof=True) -> Path:
    """results.csv with (trial_id, state, epoch, val_loss) rows; with proof, an `ended` column as the results-table
    callback writes it (stopped for TERMINATED, error for ERROR: its completion and error callbacks), without it
    a table as babysweep wrote before `ended` existed."""
    exp.mkdir(parents=True, exist_ok=True)
    path = exp / "results.csv"
    ended = {"TERMINATED": "stopped", "ERROR": "error"}
    path.write_text("trial_id,state,epoch,val_loss,diverged" + (",ended" if proof else "") + "\n" + "".join(
        f"{tid},{state},{epoch},{loss},False" + (f",{ended.get(state, '')}" if proof else "") + "\n"
        for tid, state, epoch, loss in rows))
    return path


def checkpoints(exp: Path, *trial_ids):
    """A checkpoint folder for each trial, as Ray keeps them: what a trial goes on from."""
    for trial_id in trial_ids:
        (exp / f"trial_{trial_id}" / "checkpoint_000000").mkdir(parents=True)


def statuses(path: Path) -> dict:
    trials = [json.loads(entry[0]) for entry in json.loads(path.read_text())["trial_data"]]
    return {t["trial_id"]: t["status"] for t in trials}


def states(path: Path) -> dict:
    df = read_table(path)
    return dict(zip(df["trial_id"], df["state"]))


def test_a_trial_the_table_proves_ended_but_ray_stored_paused_becomes_terminated(tmp_path):
    exp = tmp_path / "sweep"
    state = ray_state(exp, [("aaaa0001", "PAUSED"), ("aaaa0002", "PAUSED"), ("aaaa0003", "TERMINATED"),
                            ("aaaa0004", "RUNNING")])
    results = table(exp, [("aaaa0001", "TERMINATED", 1.0, 3.5), ("aaaa0002", "PAUSED", 1.0, 3.2),
                          ("aaaa0003", "TERMINATED", 3.0, 2.1), ("aaaa0004", "RUNNING", 2.0, 2.8)])
    before, table_before = json.loads(state.read_text()), results.read_bytes()
    logged = []

    assert reconcile_with_table(exp, log=logged.append) == ["aaaa0001"]

    after = json.loads(state.read_text())  # still valid JSON, in Ray's layout
    assert statuses(state) == {"aaaa0001": "TERMINATED", "aaaa0002": "PAUSED", "aaaa0003": "TERMINATED",
                               "aaaa0004": "RUNNING"}
    assert json.loads(after["trial_data"][0][0]) == dict(json.loads(before["trial_data"][0][0]), status="TERMINATED")
    assert after["trial_data"][1:] == before["trial_data"][1:]  # the other trials: the very same strings
    assert after["trial_data"][0][1] == before["trial_data"][0][1]  # runtime metadata untouched
    assert after["runner_data"] == before["runner_data"] and after["stats"] == before["stats"]
    assert results.read_bytes() == table_before  # every table trial is known to Ray: the table is not rewritten
    assert len(logged) == 1 and "aaaa0001" in logged[0] and "aaaa0002" not in logged[0]


def test_trial_in_the_table_but_unknown_to_ray_is_marked_lost(tmp_path):
    exp = tmp_path / "sweep"
    state = ray_state(exp, [("aaaa0001", "TERMINATED"), ("aaaa0002", "PAUSED")])
    results = table(exp, [("aaaa0001", "TERMINATED", 3.0, 2.1), ("aaaa0002", "PAUSED", 1.0, 3.0),
                          ("bbbb0001", "RUNNING", 1.0, 3.4), ("bbbb0002", "PENDING", "", ""),
                          ("bbbb0003", "PAUSED", 1.0, 3.9)])
    state_before = state.read_bytes()
    logged = []

    assert reconcile_with_table(exp, log=logged.append) == []  # nothing changed in Ray's state

    assert state.read_bytes() == state_before
    assert states(results) == {"aaaa0001": "TERMINATED", "aaaa0002": "PAUSED", "bbbb0001": "LOST",
                               "bbbb0002": "LOST", "bbbb0003": "LOST"}
    df = read_table(results).set_index("trial_id")
    assert df.loc["bbbb0001", "val_loss"] == 3.4 and df.loc["aaaa0001", "val_loss"] == 2.1  # the rest kept
    assert len(logged) == 1 and "3 trial(s)" in logged[0] and "LOST" in logged[0]

    assert reconcile_with_table(exp, log=logged.append) == [] and len(logged) == 1  # LOST stays LOST, once said


def test_a_trial_the_table_shows_ended_without_proof_goes_on_as_ray_stored_it(tmp_path):
    """The Ctrl-C of earlier versions: Ray saved its state with the trials as they stood (PAUSED, RUNNING), then
    marked the ones it stopped TERMINATED, which the table copied. Nothing proves they ended: Ray's state wins,
    and the table says they go on."""
    exp = tmp_path / "sweep"
    state = ray_state(exp, [("aaaa0001", "PAUSED"), ("aaaa0002", "RUNNING"), ("aaaa0003", "TERMINATED")])
    results = table(exp, [("aaaa0001", "TERMINATED", 1.0, 3.5), ("aaaa0002", "TERMINATED", 2.0, 3.1),
                          ("aaaa0003", "TERMINATED", 1.0, 3.9)], proof=False)
    checkpoints(exp, "aaaa0001", "aaaa0002")
    state_before = state.read_bytes()
    logged = []

    assert reconcile_with_table(exp, log=logged.append) == []

    assert state.read_bytes() == state_before
    assert states(results) == {"aaaa0001": "PAUSED", "aaaa0002": "RUNNING", "aaaa0003": "TERMINATED"}
    assert len(logged) == 1 and "2 trial(s)" in logged[0] and "aaaa0001 PAUSED" in logged[0]
    assert reconcile_with_table(exp, log=logged.append) == [] and len(logged) == 1  # said once


def test_an_unproven_ending_stands_when_no_checkpoint_is_left_to_go_on_from(tmp_path):
    exp = tmp_path / "sweep"
    state = ray_state(exp, [("aaaa0001", "PAUSED"), ("aaaa0002", "RUNNING")])
    results = table(exp, [("aaaa0001", "TERMINATED", 1.0, 3.5), ("aaaa0002", "TERMINATED", "", "")], proof=False)
    (exp / "trial_aaaa0001").mkdir()  # its folder, without a checkpoint (pruned, or a copy without models)
    assert reconcile_with_table(exp, log=lambda m: None) == ["aaaa0001"]
    # aaaa0002 never reported: Ray starts it afresh, nothing to lose
    assert statuses(state) == {"aaaa0001": "TERMINATED", "aaaa0002": "RUNNING"}
    assert states(results) == {"aaaa0001": "TERMINATED", "aaaa0002": "RUNNING"}


def test_a_trial_at_the_end_of_its_schedule_is_proof_in_a_table_without_endings(tmp_path):
    exp = tmp_path / "sweep"
    state = ray_state(exp, [("aaaa0001", "PAUSED"), ("aaaa0002", "PAUSED"), ("aaaa0003", "PAUSED")])
    (exp / "results.csv").write_text("trial_id,state,epoch,val_loss,config/num_epochs\n"
                                     "aaaa0001,TERMINATED,4.0,2.0,4\n"    # its own num_epochs reached
                                     "aaaa0002,TERMINATED,3.0,2.2,\n"     # the space's budget max reached
                                     "aaaa0003,TERMINATED,1.0,3.0,\n")    # neither: Ray's PAUSED goes on
    (exp / "space.yaml").write_text("trainable: pretrain\nbudget: {min: 1, max: 3}\nparameters:\n"
                                    "  lr: {log_uniform: [1.0e-4, 1.0e-2]}\n")
    checkpoints(exp, "aaaa0001", "aaaa0002", "aaaa0003")
    assert reconcile_with_table(exp, log=lambda m: None) == ["aaaa0001", "aaaa0002"]
    assert statuses(state) == {"aaaa0001": "TERMINATED", "aaaa0002": "TERMINATED", "aaaa0003": "PAUSED"}
    assert states(exp / "results.csv")["aaaa0003"] == "PAUSED"


def test_a_trial_the_table_shows_in_error_stays_in_error_on_a_plain_resume(tmp_path):
    exp = tmp_path / "sweep"
    # Ray says ERROR, the table TERMINATED: an errored trial is not made finished
    state = ray_state(exp, [("aaaa0001", "ERROR"), ("aaaa0002", "PAUSED")])
    # a table ERROR (or finished) trial Ray never recorded is not LOST: it is not coming back either way
    results = table(exp, [("aaaa0001", "TERMINATED", 3.0, 2.0), ("aaaa0002", "ERROR", 1.0, 3.0),
                          ("cccc0001", "ERROR", 1.0, 9.0), ("cccc0002", "TERMINATED", 3.0, 2.5)])
    table_before = results.read_bytes()
    logged = []

    # the driver died after the table saw aaaa0002 fail, before Ray stored it: Ray would run it again (a plain
    # resume re-ran an errored trial one time and not another); it stays in ERROR, for --retry-errored to take up
    assert reconcile_with_table(exp, log=logged.append) == ["aaaa0002"]

    assert statuses(state) == {"aaaa0001": "ERROR", "aaaa0002": "ERROR"}
    assert results.read_bytes() == table_before
    assert len(logged) == 1 and "aaaa0002 ERROR" in logged[0]


def test_numeric_looking_trial_ids_are_matched_as_strings(tmp_path):
    exp = tmp_path / "sweep"
    state = ray_state(exp, [("12345678", "PAUSED"), ("1e345678", "PAUSED"), ("00000042", "PAUSED")])
    table(exp, [("12345678", "TERMINATED", 3.0, 2.0), ("1e345678", "TERMINATED", 3.0, 2.2),
                ("00000042", "TERMINATED", 3.0, 2.4)])
    assert sorted(reconcile_with_table(exp, log=lambda m: None)) == ["00000042", "12345678", "1e345678"]
    assert set(statuses(state).values()) == {"TERMINATED"}
    assert states(exp / "results.csv") == {"12345678": "TERMINATED", "1e345678": "TERMINATED",
                                           "00000042": "TERMINATED"}  # none taken for LOST


def test_only_the_latest_state_file_is_reconciled(tmp_path):
    exp = tmp_path / "sweep"
    old = ray_state(exp, [("aaaa0001", "PAUSED")], name="experiment_state-2029-12-31_23-59-59.json")
    new = ray_state(exp, [("aaaa0001", "PAUSED")])
    old_bytes = old.read_bytes()
    table(exp, [("aaaa0001", "TERMINATED", 3.0, 2.0)])
    assert reconcile_with_table(exp, log=lambda m: None) == ["aaaa0001"]
    assert statuses(new) == {"aaaa0001": "TERMINATED"} and old.read_bytes() == old_bytes


def test_without_a_table_nothing_changes(tmp_path):
    exp = tmp_path / "sweep"
    state = ray_state(exp, [("aaaa0001", "PAUSED")])
    before = state.read_bytes()
    assert reconcile_with_table(exp, log=pytest.fail) == []
    assert state.read_bytes() == before and sorted(p.name for p in exp.iterdir()) == [STATE_NAME]


def test_without_a_ray_state_nothing_changes(tmp_path):
    exp = tmp_path / "sweep"
    results = table(exp, [("aaaa0001", "TERMINATED", 3.0, 2.0), ("aaaa0002", "RUNNING", 1.0, 3.0)])
    before = results.read_bytes()
    assert reconcile_with_table(exp, log=pytest.fail) == []  # no state: no trial is declared LOST either
    assert results.read_bytes() == before and sorted(p.name for p in exp.iterdir()) == ["results.csv"]


def test_the_legacy_fixture_state_is_brought_up_to_its_table(tmp_path):
    # babysweep 0.1's folder: Ray's last stored state still has two trials PAUSED that the table shows finished;
    # one at the end of its schedule (proof), the other stopped at its first rung, with no checkpoint left (the
    # fixture keeps no model files): it could not go on, so its ending stands
    exp = tmp_path / "legacy"
    copy_legacy(exp.parent, ["legacy"])
    state = next(exp.glob("experiment_state-*.json"))
    assert statuses(state) == {"27410418": "PAUSED", "1503e236": "TERMINATED", "0ad21f93": "TERMINATED",
                               "5fb92ac8": "PAUSED"}
    results_before = (exp / "results.csv").read_bytes()

    assert reconcile_with_table(exp, log=lambda m: None) == ["27410418", "5fb92ac8"]
    assert set(statuses(state).values()) == {"TERMINATED"}
    assert (exp / "results.csv").read_bytes() == results_before
    assert reconcile_with_table(exp, log=pytest.fail) == []  # a second call finds nothing to do


# ---------------------------------------------------------------------------------------------- Ray's state cut short

def test_ray_state_cut_short_is_put_back_from_its_last_whole_set(tmp_path):
    from sweep.folder import WHOLE_STATE, keep_whole_ray_state, repair_ray_state

    exp = tmp_path / "sweep"
    state = ray_state(exp, [("aaaa0001", "PAUSED")])
    searcher = exp / "searcher-state-2030-01-01_00-00-00.pkl"
    searcher.write_bytes(pickle.dumps({"counter": 1}))
    whole = {p.name: p.read_bytes() for p in (state, searcher)}
    seen = {}
    assert not keep_whole_ray_state(exp, seen)  # first seen: Ray's copy may still be going on
    assert keep_whole_ray_state(exp, seen)      # unchanged a step later, both whole: kept as one set
    assert not keep_whole_ray_state(exp, seen)  # nothing new
    state.write_bytes(whole[state.name][: len(whole[state.name]) // 2])  # the next save, cut short: a full disk
    searcher.write_bytes(pickle.dumps({"counter": 2}))                  # its searcher, written whole
    assert not keep_whole_ray_state(exp, seen) and not keep_whole_ray_state(exp, seen)
    assert [p.name for p in (exp / WHOLE_STATE).iterdir()] == ["set-000001"]
    logged = []

    assert repair_ray_state(exp, log=logged.append) == sorted(whole)
    assert {p.name: p.read_bytes() for p in (state, searcher)} == whole  # the whole set: one step, both files
    assert len(logged) == 1 and "last whole copy" in logged[0]
    assert repair_ray_state(exp, log=pytest.fail) == []


def test_ray_state_cut_short_without_a_copy_is_one_line(tmp_path):
    from sweep.errors import SweepError
    from sweep.folder import repair_ray_state

    exp = tmp_path / "sweep"
    state = ray_state(exp, [("aaaa0001", "PAUSED")])
    state.write_text(state.read_text()[:100])
    with pytest.raises(SweepError, match="Ray's saved state is cut short .* no whole copy of it is kept") as e:
        repair_ray_state(exp)
    assert "\n" not in str(e.value)
