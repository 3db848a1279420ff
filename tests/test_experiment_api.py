"""Reading experiments (sweep.experiment.load_experiment, the kinds' records, status) on a copy of the folders
babysweep 0.1 wrote, and the atomic writers every folder relies on. Fast: no Ray run, no training."""
import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import copy_legacy
from sweep import folder
from babysweep.cli import main
from sweep.errors import SweepError
from sweep.experiment import load_experiment
from sweep.experiment import list_experiments
from sweep.kinds import (KINDS, ROLES, EnsembleFamilySpec, FamilySpec, GridSpec, RerunSpec, ScanSpec, SweepSpec,
                         spec_from_record)
from sweep.status import format_status, sweep_status
from sweep.table import read_table
from trainables.files import atomic_path, folder_is_free, scratch_folder, staged_folder, write_text

FIXTURE = Path(__file__).parent / "fixtures" / "legacy_v0_1"
SCORED = {"0ad21f93": 0.5642857142857143, "5fb92ac8": 0.5392857142857143}  # legacy/evaluation.csv


@pytest.fixture
def storage(tmp_path):
    """A copy of the babysweep 0.1 folders `legacy` and `legacy-rerun` (the fixture itself is never written)."""
    runs = tmp_path / "runs"
    return copy_legacy(runs)


def one_line(message: str) -> str:
    assert "\n" not in message and "Traceback" not in message, message
    return message


# ---------------------------------------------------------------------------------------------- specs and records

def test_a_record_without_kind_is_a_searched_sweep(storage):
    exp = load_experiment("legacy", storage)
    assert "kind" not in json.loads((storage / "legacy" / "sweep.json").read_text())
    assert exp.kind == "sweep" and type(exp.spec) is SweepSpec
    s = exp.spec
    assert (s.name, s.algo, s.samples, s.seed, s.reduction_factor) == ("legacy", "bohb", 4, 0, 3.0)
    assert s.space == "search_spaces/tiny_demo.yaml" and s.extra == {"data": str(storage.parent / "legacy-data-absent")}


def test_the_rerun_record_is_a_grid(storage):
    exp = load_experiment("legacy-rerun", storage)
    assert exp.kind == "rerun" and type(exp.spec) is RerunSpec and isinstance(exp.spec, GridSpec)
    s = exp.spec
    assert s.source == "legacy" and s.seeds == [1000, 1001] and s.top_k == 1 and not s.baseline
    assert [(r["source_trial_id"], r["seed"]) for r in s.runs] == [("0ad21f93", 1000), ("0ad21f93", 1001)]


@pytest.mark.parametrize("algo, role", [("rerun", RerunSpec), ("scan", ScanSpec), ("replicate", FamilySpec),
                                        ("ensemble", EnsembleFamilySpec), (None, RerunSpec)])
def test_each_grid_role_is_read_back_as_its_own_spec_class_with_the_record_it_was_written_as(storage, algo, role):
    record = json.loads((storage / "legacy-rerun" / "sweep.json").read_text())
    if algo is None:
        record.pop("algo", None)  # babysweep 0.1's re-runs recorded none
    else:
        record["algo"] = algo
    spec = spec_from_record(record)
    assert type(spec) is role and spec.describe()
    if algo is not None:
        assert spec.to_record() == {**record, **spec.to_record()} and spec.to_record()["algo"] == algo
    assert set(ROLES.values()) == {RerunSpec, ScanSpec, FamilySpec, EnsembleFamilySpec}


def test_list_experiments_finds_them_by_kind_and_source_and_passes_over_other_folders(storage):
    (storage / "not-an-experiment").mkdir()
    (storage / "damaged").mkdir()
    (storage / "damaged" / "sweep.json").write_text("{not json")
    assert [e.name for e in list_experiments(storage)] == ["legacy", "legacy-rerun"]
    assert [e.name for e in list_experiments(storage, kind=RerunSpec)] == ["legacy-rerun"]
    assert [e.name for e in list_experiments(storage, kind=SweepSpec)] == ["legacy"]
    assert [e.name for e in list_experiments(storage, source="legacy")] == ["legacy-rerun"]
    assert list_experiments(storage, source="legacy", kind=ScanSpec) == []
    assert list_experiments(storage / "absent") == []


@pytest.mark.parametrize("name", ["legacy", "legacy-rerun"])
def test_record_round_trip_gives_an_equal_spec(storage, name):
    spec = load_experiment(name, storage).spec
    record = spec.to_record()
    assert record["kind"] == spec.KIND and isinstance(spec, KINDS[record["kind"]])
    assert spec_from_record(record) == spec
    assert spec_from_record(json.loads(json.dumps(record))) == spec  # as written to and read from sweep.json


def test_record_keys_a_spec_does_not_have_are_left_out_and_missing_ones_named():
    spec = spec_from_record({"space": "s.yaml", "note": "kept for people", "samples": 3})
    assert type(spec) is SweepSpec and spec.samples == 3 and not hasattr(spec, "note")
    with pytest.raises(SweepError) as e:
        spec_from_record({"kind": "rerun", "name": "x"}, source="x/sweep.json")
    assert one_line(str(e.value)) == "x/sweep.json: a rerun record needs runs"


def test_unknown_kind_is_a_one_line_sweep_error(storage, capsys):
    path = storage / "legacy" / "sweep.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "kind": "bayesopt"}))
    exp = load_experiment("legacy", storage)  # reading the folder does not need the spec...
    assert exp.kind == "bayesopt" and len(exp.table) == 4
    with pytest.raises(SweepError) as e:  # ...using it does
        exp.spec
    msg = one_line(str(e.value))
    assert str(path) in msg and "unknown experiment kind 'bayesopt'" in msg and "sweep" in msg and "rerun" in msg

    assert main(["resume", "legacy", "--storage", str(storage), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert one_line(err).startswith("babysweep: error: ") and "unknown experiment kind 'bayesopt'" in err


# ---------------------------------------------------------------------------------------------- finding a folder

def test_unknown_experiment_name(storage, tmp_path, capsys):
    with pytest.raises(SweepError) as e:
        load_experiment("ghost", storage)
    assert one_line(str(e.value)) == f"no sweep named 'ghost' in {storage}"
    with pytest.raises(SweepError, match="no sweep named 'legacy': .*nowhere does not exist"):
        load_experiment("legacy", tmp_path / "nowhere")
    (storage / "empty").mkdir()  # a folder without sweep.json is no experiment
    with pytest.raises(SweepError, match="no sweep named 'empty'"):
        load_experiment("empty", storage)
    assert main(["status", "ghost", "--storage", str(storage)]) == 2
    assert "no sweep named 'ghost'" in capsys.readouterr().err


def test_storage_uri_is_refused(tmp_path):
    with pytest.raises(SweepError, match="s3://bucket/runs: .*shared filesystem path"):
        load_experiment("legacy", "s3://bucket/runs")


def test_create_refuses_an_existing_experiment_unless_overwrite(tmp_path):
    space = FIXTURE / "legacy" / "space.yaml"
    exp = folder.create(tmp_path / "runs", "new", {"kind": "sweep", "space": "x"}, space)
    assert json.loads((exp / "sweep.json").read_text()) == {"kind": "sweep", "space": "x"}
    assert (exp / "space.yaml").read_text() == space.read_text()
    (exp / "results.csv").write_text("trial_id,state\nabc,TERMINATED\n")
    with pytest.raises(SweepError, match="sweep 'new' already exists .*babysweep resume new"):
        folder.create(tmp_path / "runs", "new", {"kind": "sweep"}, space)
    assert (exp / "results.csv").exists()
    folder.create(tmp_path / "runs", "new", {"kind": "rerun"}, space, overwrite=True)
    assert not (exp / "results.csv").exists() and json.loads((exp / "sweep.json").read_text()) == {"kind": "rerun"}


# ---------------------------------------------------------------------------------------------- the table and the rules

def test_table_has_the_evaluation_scores_merged(storage):
    exp = load_experiment("legacy", storage)
    t = exp.table.set_index("trial_id")
    assert t["blimp_filtered"].dropna().to_dict() == pytest.approx(SCORED)
    assert t.loc[["27410418", "1503e236"], "blimp_filtered"].isna().all()  # stopped at a rung: never scored
    assert t["diverged"].dtype == bool and all(type(i) is str for i in t.index)


def test_scores_come_from_evaluation_csv_not_from_a_stale_table(storage):
    path = storage / "legacy" / "results.csv"
    scores = [c for c in read_table(path).columns if c.startswith("blimp")]
    read_table(path).drop(columns=scores).to_csv(path, index=False)  # a table written before evaluate ran
    with open(storage / "legacy" / "evaluation.csv", "a") as f:  # a later score of one trial: the last row wins
        f.write("0ad21f93,x,0.75" + "," * 15 + "\n")
    t = load_experiment("legacy", storage).table.set_index("trial_id")
    assert t["blimp_filtered"].dropna().to_dict() == pytest.approx({**SCORED, "0ad21f93": 0.75})
    assert "blimp/pronoun_case" in t.columns and "checkpoint" in t.columns  # the table's own checkpoint is kept
    assert t.loc["0ad21f93", "checkpoint"].endswith("trial_0ad21f93/checkpoint_000002/hf")


def rule_by_hand(results_csv: Path, budget_max: float) -> str:
    """The documented rule, computed with the csv module: lowest final val_loss among TERMINATED, non-diverged
    trials that reached min(num_epochs, budget max); ties to the lowest id."""
    with open(results_csv) as f:
        rows = [r for r in csv.DictReader(f) if r["state"] == "TERMINATED" and r["diverged"] != "True"
                and float(r["epoch"]) >= min(float(r["config/num_epochs"]), budget_max)]
    return min(rows, key=lambda r: (float(r["val_loss"]), r["trial_id"]))["trial_id"]


@pytest.mark.parametrize("name, best", [("legacy", "0ad21f93"), ("legacy-rerun", "98a89_00000")])
def test_best_trial_follows_the_rule(storage, name, best):
    exp = load_experiment(name, storage)
    assert exp.best_trial()["trial_id"] == best == rule_by_hand(exp.table_path, exp.space.budget_max)


def test_complete_trials_of_the_legacy_sweep(storage):
    ranked, notes = load_experiment("legacy", storage).complete_trials()
    assert list(ranked["trial_id"]) == ["0ad21f93", "5fb92ac8"]
    assert notes == ["2 trial(s) stopped early by the scheduler left out"]  # what babysweep 0.1's rerun noted too


def test_an_experiment_without_a_table_yet(tmp_path):
    exp_dir = folder.create(tmp_path, "fresh", {"kind": "sweep", "space": "x", "samples": 2},
                            FIXTURE / "legacy" / "space.yaml")
    exp = load_experiment("fresh", tmp_path)
    assert not exp.has_table and exp.table.empty and exp.best_trial() is None and exp.state_counts() == {}
    with pytest.raises(SweepError, match="has no results table yet"):
        exp.require_table()
    st = sweep_status("fresh", tmp_path)
    assert st["trials"] == 0 and st["best"] is None and st["counts"] == {}
    assert "best: none yet" in format_status(st) and exp_dir.is_dir()


# ---------------------------------------------------------------------------------------------- status

def test_status_of_the_legacy_folders(storage):
    st = sweep_status("legacy", storage)
    assert (st["kind"], st["algo"], st["samples"], st["trials"], st["budget_max"]) == ("sweep", "bohb", 4, 4, 3)
    assert st["counts"] == {"TERMINATED": 4} and st["driver"] == "stopped"
    b = st["best"]
    assert b["trial_id"] == "0ad21f93" and b["metric"] == "val_loss" and b["epoch"] == 3.0
    assert b["value"] == pytest.approx(2.1037569667326355) and b["val_loss"] == b["value"]
    assert b["config"]["batch_size"] == 16 and type(b["config"]["batch_size"]) is int
    assert b["checkpoint"] == str(storage / "legacy/trial_0ad21f93/checkpoint_000002/hf")
    assert {r["trial_id"] for r in st["rows"]} == {"27410418", "1503e236", "0ad21f93", "5fb92ac8"}
    json.dumps(st)  # plain values only: `status --json` prints it

    rr = sweep_status("legacy-rerun", storage)
    assert (rr["kind"], rr["algo"], rr["samples"]) == ("rerun", "rerun", 2)
    assert rr["best"]["trial_id"] == "98a89_00000" and rr["best"]["config"]["source_trial_id"] == "0ad21f93"


def test_status_command(storage, capsys):
    assert main(["status", "legacy", "--storage", str(storage)]) == 0
    out = capsys.readouterr().out
    assert "sweep legacy (bohb, 4/4 trials" in out and "driver stopped" in out
    assert "best: 0ad21f93 val_loss 2.1038 at epoch 3" in out and "trials by state: TERMINATED 4" in out
    assert main(["status", "legacy-rerun", "--storage", str(storage), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["best"]["trial_id"] == "98a89_00000" and st["counts"] == {"TERMINATED": 2}


@pytest.mark.parametrize("action, folder_name", [("correlate", "legacy"), ("stability", "legacy-rerun")])
def test_analyses_read_the_legacy_folders(storage, capsys, action, folder_name):
    assert main(["analyze", action, "legacy", "--storage", str(storage)]) == 0
    out = capsys.readouterr().out
    where = storage / folder_name / "analysis"
    assert (where / f"{action}.md").is_file() and (where / f"{action}.csv").is_file()
    if action == "stability":  # the re-run found through its source's name; 0ad21f93 re-seeded twice
        assert "| 0ad21f93 | 2.1038 | 2.1177" in out


def test_driver_state(storage):
    exp = storage / "legacy"
    assert folder.driver_state(exp) == "stopped"
    with folder.driver_lock(exp):
        assert folder.driver_state(exp) == f"running (pid {os.getpid()})"
        assert sweep_status("legacy", storage)["driver"] == f"running (pid {os.getpid()})"
    assert folder.driver_state(exp) == "stopped"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    folder.write_json(exp / folder.DRIVER, {"pid": gone.pid, "host": socket.gethostname(), "started": 0})
    assert folder.driver_state(exp) == f"stopped (driver pid {gone.pid} killed)"
    folder.write_json(exp / folder.DRIVER, {"pid": 7, "host": "elsewhere", "started": 0})
    assert folder.driver_state(exp) == "running (pid 7 on elsewhere)"
    (exp / folder.DRIVER).unlink()
    assert folder.driver_state(exp) == "stopped"


# ---------------------------------------------------------------------------------------------- atomic writers

def leftovers(directory: Path) -> list:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_atomic_path_replaces_by_rename(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("old\n")
    old_inode = path.stat().st_ino
    with open(path) as reader:  # a reader that opened the old file keeps reading the old file, whole
        with atomic_path(path) as tmp:
            assert tmp.parent == tmp_path and tmp != path
            tmp.write_text("new\n")
            assert path.read_text() == "old\n"  # nothing visible before the rename
        assert reader.read() == "old\n"
    assert path.read_text() == "new\n" and path.stat().st_ino != old_inode
    assert leftovers(tmp_path) == []
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600


def test_atomic_path_leaves_no_temp_file_and_the_old_version_on_failure(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("old\n")
    with pytest.raises(RuntimeError, match="killed mid-write"):
        with atomic_path(path) as tmp:
            tmp.write_text("half a fi")
            raise RuntimeError("killed mid-write")
    assert path.read_text() == "old\n" and leftovers(tmp_path) == []
    with pytest.raises(KeyboardInterrupt):  # a BaseException too
        with atomic_path(tmp_path / "new.csv"):
            raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"]


def test_write_text_creates_and_replaces(tmp_path):
    write_text(tmp_path / "a.txt", "one")
    write_text(tmp_path / "a.txt", "two")
    assert (tmp_path / "a.txt").read_text() == "two" and leftovers(tmp_path) == []


def test_staged_folder_publishes_in_one_rename(tmp_path):
    out = tmp_path / "model"
    with staged_folder(out) as staging:
        assert staging.path.parent == tmp_path and staging.path.name.startswith(".model.tmp-")
        (staging.path / "config.json").write_text("{}")
        assert not out.exists()
    assert staging.published and (out / "config.json").read_text() == "{}"
    assert leftovers(tmp_path) == [] and not folder_is_free(out)


def test_staged_folder_cleans_up_on_failure(tmp_path):
    out = tmp_path / "model"
    with pytest.raises(ValueError):
        with staged_folder(out) as staging:
            (staging.path / "part").write_text("x")
            raise ValueError("failed while building")
    assert not out.exists() and list(tmp_path.iterdir()) == [] and not staging.published


def test_staged_folder_replaces_an_empty_folder_and_leaves_a_published_one(tmp_path):
    out = tmp_path / "model"
    out.mkdir()  # made by the user, empty: a free place
    assert folder_is_free(out)
    with staged_folder(out) as staging:
        (staging.path / "mine").write_text("1")
    assert staging.published and (out / "mine").read_text() == "1"

    with staged_folder(out) as again:  # another process published first: theirs stays, ours is dropped
        (again.path / "theirs").write_text("2")
    assert not again.published and sorted(p.name for p in out.iterdir()) == ["mine"]
    assert leftovers(tmp_path) == []


SCRATCH_CHILD = """
import os, sys, tempfile
tempfile.tempdir = sys.argv[1]
from trainables.files import scratch_folder
with scratch_folder() as folder:
    (folder / "trainer_state.pt").write_text("half a checkpoint")
    print(folder, flush=True)
    os.kill(os.getpid(), 9)  # killed outright, as a lost worker is: no finally runs
"""


def test_a_killed_process_scratch_folder_is_removed_by_the_next_one(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    child = subprocess.run([sys.executable, "-c", SCRATCH_CHILD, str(tmp_path)], capture_output=True, text=True,
                           cwd=Path(__file__).parents[1])
    assert child.returncode == -9, child.stderr
    orphan = Path(child.stdout.strip())
    assert orphan.parent == tmp_path and orphan.name.startswith("babysweep-ckpt-")
    assert (orphan / "trainer_state.pt").exists()  # what SIGKILL leaves behind
    live = tmp_path / f"babysweep-ckpt-{os.getpid()}-other"  # a running process's folder (ours): kept
    live.mkdir()
    other_prefix = tmp_path / "babysweep-family-999999999-x"  # another prefix: not this sweep's business
    other_prefix.mkdir()

    with scratch_folder() as mine:
        assert mine.exists() and mine.name.startswith(f"babysweep-ckpt-{os.getpid()}-")
    assert not orphan.exists() and live.exists() and other_prefix.exists() and not mine.exists()


def test_read_table_of_the_fixture_is_typed(storage):
    t = read_table(storage / "legacy-rerun" / "results.csv")
    assert list(t["source_trial_id"]) == ["0ad21f93", "0ad21f93"] and list(t["seed"]) == [1000, 1001]
    assert isinstance(t, pd.DataFrame) and t["diverged"].dtype == bool and not t["diverged"].any()


def test_a_moved_experiment_writes_its_table_where_it_is_now(storage):
    """Ray restores the results-table callback from tuner.pkl with the paths of the folder it was launched in
    (/tmp/legacy/runs/legacy here): a resume points it at the folder the experiment is in now."""
    from ray import tune

    from sweep.results import ResultsTable
    from sweep.runtime import relocate_callbacks

    def run_trial(config):  # a restore checks the trainable's name only
        pass

    exp = storage / "legacy"
    tuner = tune.Tuner.restore(str(exp), trainable=run_trial)
    restored = [cb for cb in tuner._local_tuner.get_run_config().callbacks if isinstance(cb, ResultsTable)]
    assert len(restored) == 1 and restored[0].experiment_dir == "/tmp/legacy/runs/legacy"
    relocate_callbacks(tuner, exp)
    assert restored[0].experiment_dir == str(exp)
    assert restored[0].to_config.args[0] == str(exp / "space.yaml")
    sampled = json.loads((exp / "trial_0ad21f93" / "params.json").read_text())  # what the searcher gave the trial
    assert restored[0].to_config(sampled)["lr"] == pytest.approx(0.0023532822775848426)  # mapped by the space there
