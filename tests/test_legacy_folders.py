"""Experiment folders written by babysweep 0.1 (tests/fixtures/legacy_v0_1) still resume and analyse with this
version: real Ray runs, and one real tiny training (the re-run the table never recorded).

The fixture's data folder (/tmp/legacy/prep) exists only where it was made; its records are pointed at tiny_data
the same kind of data (the built-in corpus, vocabulary 400, sequence length 32)."""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, copy_legacy
from sweep.table import read_table

pytestmark = pytest.mark.slow

FIXTURE = Path(__file__).parent / "fixtures" / "legacy_v0_1"
BABYSWEEP = [sys.executable, "-m", "babysweep.cli"]
KEPT = ["trial_id", "state", "epoch", "val_loss", "best_val_loss", "test_loss", "seed"]


def babysweep(*args, timeout=600):
    return subprocess.run([*BABYSWEEP, *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def copy_fixture(tiny_data, runs: Path) -> Path:
    return copy_legacy(runs, data=tiny_data)


def ray_statuses(exp: Path) -> dict:
    state = json.loads(sorted(exp.glob("experiment_state-*.json"))[-1].read_text())
    return {json.loads(e[0])["trial_id"]: json.loads(e[0])["status"] for e in state["trial_data"]}


@pytest.fixture(scope="module")
def resumed_legacy(tiny_data, tmp_path_factory):
    """The legacy sweep, resumed once: (storage, the resume's completed process)."""
    runs = copy_fixture(tiny_data, tmp_path_factory.mktemp("legacy") / "runs")
    return runs, babysweep("resume", "legacy", "--storage", runs, "--quiet")


def test_resume_of_a_legacy_sweep_keeps_its_finished_trials(resumed_legacy):
    runs, out = resumed_legacy
    assert out.returncode == 0, out.stderr[-3000:]
    exp = runs / "legacy"
    before = read_table(FIXTURE / "legacy" / "results.csv")[KEPT].sort_values("trial_id", ignore_index=True)
    after = read_table(exp / "results.csv")[KEPT].sort_values("trial_id", ignore_index=True)
    pd.testing.assert_frame_equal(after, before)  # the 4 TERMINATED rows, same val_loss
    assert set(after["state"]) == {"TERMINATED"}
    # nothing trained again: not one report more (two trials were PAUSED in Ray's stored state; the table wins)
    assert (exp / "history.csv").read_text() == (FIXTURE / "legacy" / "history.csv").read_text()
    assert set(ray_statuses(exp).values()) == {"TERMINATED"}
    assert "best: 0ad21f93" in out.stdout and "interrupted with" not in out.stdout
    assert not (exp / "driver.json").exists()  # the driver's mark is removed when it ends


@pytest.mark.parametrize("action", ["correlate", "stability"])
def test_analyses_of_the_resumed_legacy_sweep(resumed_legacy, action):
    runs, _ = resumed_legacy
    out = babysweep("analyze", action, "legacy", "--storage", runs)
    assert out.returncode == 0, out.stderr[-3000:]
    where = runs / ("legacy" if action == "correlate" else "legacy-rerun") / "analysis"
    assert (where / f"{action}.md").is_file() and (where / f"{action}.csv").is_file()


def test_resume_of_a_legacy_rerun_moved_with_its_data_starts_the_run_its_table_never_recorded(tiny_data, tmp_path):
    """A legacy re-run, its storage moved since with its data folder inside (sweep.json and Ray's saved trial configs
    name the original place, which is gone): the resume trains the run the table lacks, on the data at the new
    place, and writes nothing that names the old one."""
    import shutil

    runs, origin = tmp_path / "moved" / "runs", tmp_path / "original" / "runs"
    copy_legacy(runs, names=("legacy-rerun",), data=origin / "data" / "prep", origin=origin)
    shutil.copytree(tiny_data, runs / "data" / "prep")
    exp = runs / "legacy-rerun"
    table = read_table(exp / "results.csv")
    kept, dropped = table.iloc[0], table.iloc[1]
    # the driver died after Ray stored its state but before the table recorded the second run
    lines = (exp / "results.csv").read_text().splitlines(keepends=True)
    (exp / "results.csv").write_text("".join(line for line in lines if not line.startswith(dropped["trial_id"] + ",")))
    assert len(read_table(exp / "results.csv")) == 1

    out = babysweep("resume", "legacy-rerun", "--storage", runs, "--quiet")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "1 planned re-run(s) were not in Ray's stored state: starting them" in out.stdout

    planned = {(r["source_trial_id"], int(r["seed"])) for r in json.loads((exp / "sweep.json").read_text())["runs"]}
    after = read_table(exp / "results.csv")
    done = after[after["state"] == "TERMINATED"]
    assert set(zip(done["source_trial_id"], done["seed"].astype(int))) == planned
    assert len(done) == len(planned) == 2  # each planned run once: the kept one was not trained again
    row = after.set_index("trial_id").loc[kept["trial_id"]]
    assert row["val_loss"] == kept["val_loss"] and row["seed"] == kept["seed"]
    new = done[done["trial_id"] != kept["trial_id"]].iloc[0]
    assert int(new["seed"]) == int(dropped["seed"]) and new["epoch"] == 3.0 and 0 < new["val_loss"] < 10
    assert isinstance(new["checkpoint"], str) and Path(new["checkpoint"]).is_dir()  # its final model, in the copy
    assert Path(new["checkpoint"]).is_relative_to(exp.resolve())
    about = json.loads((Path(new["checkpoint"]) / "babysweep.json").read_text())
    assert about["data"] == str((runs / "data" / "prep").resolve())  # trained on the data where it is now
    assert not any(str(origin) in text for text in (out.stdout, out.stderr, (exp / "results.csv").read_text()))


def test_a_sweep_launched_when_constant_had_a_warm_up_keeps_it_on_resume_and_rerun(tmp_path):
    """`lr_scheduler_type: constant` lost its warm-up (issue 13); an experiment launched before keeps the meaning it
    was launched with, for every trial it still runs and for the re-runs of its trials."""
    from sweep.kinds import SweepSpec, spec_from_record
    from sweep.kinds.base import as_launched

    new = SweepSpec(space="s.yaml", name="new")
    old_record = {k: v for k, v in new.to_record().items() if k not in ("constant_schedule", "format")}  # as 0.1/0.2 wrote it
    assert new.to_record()["constant_schedule"] == "constant"
    assert spec_from_record(old_record).constant_schedule == "constant_with_warmup"
    assert spec_from_record(new.to_record()).constant_schedule == "constant"
    config = {"lr_scheduler_type": "constant", "num_warmup_steps": 50}
    assert as_launched(config, "constant_with_warmup")["lr_scheduler_type"] == "constant_with_warmup"
    assert as_launched(config, "constant") is config
    assert as_launched({"lr_scheduler_type": "cosine"}, "constant_with_warmup") == {"lr_scheduler_type": "cosine"}
    for name in ("legacy", "legacy-rerun"):  # the fixtures written by babysweep 0.1
        record = json.loads((FIXTURE / name / "sweep.json").read_text())
        assert spec_from_record(record).constant_schedule == "constant_with_warmup"
