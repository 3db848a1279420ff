"""Ending a driver early keeps what Ray keeps (issue 23): a sweep stopped by SIGINT (Ctrl-C) or SIGTERM mid-run
exits 128 + the signal with every trial saved as it stood, and its resume finishes every trial, reports no
(trial, epoch) twice, and ends where an uninterrupted run of the same seeds ends. The fail-fast rule on fake trials.
Real Ray runs are marked slow."""
import signal
import subprocess
import sys
from types import SimpleNamespace

import pytest

from conftest import REPO, watch_table
from sweep.table import read_history, read_table

BABYSWEEP = [sys.executable, "-m", "babysweep.cli"]
TINY_SPACE = REPO / "search_spaces" / "tiny_demo.yaml"


def launch(tiny_data, runs, name, samples=5):
    # small_sweep's settings (tests/conftest.py): the tiny space, searcher seed 0
    return subprocess.Popen([*BABYSWEEP, "launch", str(TINY_SPACE), "--data", str(tiny_data), "--samples",
                             str(samples), "--storage", str(runs), "--name", name, "--quiet"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finals(table) -> dict:
    """{initialisation seed: (state, epoch, val_loss)}: trial ids differ between runs, seeds do not."""
    return {int(r["seed"]): (r["state"], float(r["epoch"]), float(r["val_loss"])) for _, r in table.iterrows()}


def stop(tiny_data, runs, signal_number, samples):
    """A sweep stopped by `signal_number` once a trial has reported and trials are still to come (some mid-epoch,
    some paused), checked as it stopped."""
    driver = launch(tiny_data, runs, "stopped", samples)
    table_path = runs / "stopped" / "results.csv"
    seen = watch_table(table_path, lambda t: True if "epoch" in t and (t["epoch"] >= 1).any() and (
        len(t) < samples or (t["state"] != "TERMINATED").sum() > 1) else None, driver)
    assert seen, "the sweep ended before it could be stopped mid-run"
    driver.send_signal(signal_number)
    out, err = driver.communicate(timeout=300)
    assert driver.returncode == 128 + signal_number, err[-3000:]
    assert "continue with `babysweep resume stopped" in err.splitlines()[-1]
    assert "interrupted with" in out and "unfinished trial(s)" in out
    stopped = read_table(table_path)
    assert (~stopped["state"].isin(["TERMINATED", "ERROR"])).any(), stopped[["trial_id", "state", "epoch"]]
    # nothing the table calls ended was stopped by the driver's ending: each ending has Ray's proof
    ended = stopped[stopped["state"] == "TERMINATED"]
    assert ended["ended"].isin(["completed", "stopped"]).all() if len(ended) else True
    # retention (trainables/retention.py): an ended trial keeps its model alone; one that goes on at the resume
    # keeps the training state it resumes from
    exp = runs / "stopped"
    for tid in stopped["trial_id"]:
        states = list((exp / f"trial_{tid}").glob("checkpoint_*/trainer_state.pt"))
        if tid in set(ended["trial_id"]):
            assert not states, tid
        elif list((exp / f"trial_{tid}").glob("checkpoint_*")):
            assert states, tid


def stop_and_resume(tiny_data, runs, signal_number, samples):
    """stop(), then the resume; returns its table after the resume."""
    stop(tiny_data, runs, signal_number, samples)
    resumed = subprocess.run([*BABYSWEEP, "resume", "stopped", "--storage", str(runs), "--quiet"], cwd=REPO,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    table = read_table(runs / "stopped" / "results.csv")
    assert len(table) == samples and set(table["state"]) == {"TERMINATED"}
    history = read_history(runs / "stopped" / "history.csv", redone=True)
    assert not history["redone"].any(), history[history["redone"]]  # no (trial, epoch) reported twice
    return table


@pytest.mark.slow
def test_a_sweep_stopped_by_ctrl_c_resumes_every_trial_and_ends_as_an_uninterrupted_one(tiny_data, small_sweep,
                                                                                        tmp_path):
    table = stop_and_resume(tiny_data, tmp_path / "runs", signal.SIGINT, samples=5)
    reference = finals(read_table(small_sweep / "small" / "results.csv"))
    got = finals(table)
    assert got.keys() == reference.keys()
    for seed, (state, epoch, loss) in reference.items():
        assert got[seed][:2] == (state, epoch), (seed, got[seed], reference[seed])
        assert got[seed][2] == pytest.approx(loss, abs=1e-5), seed


@pytest.mark.slow
def test_a_sweep_stopped_by_sigterm_is_saved_as_one_stopped_by_ctrl_c(tiny_data, tmp_path):
    # SIGTERM takes the SIGINT path (sweep/stopping.py) to the same saved state, whose resume the test above runs
    # to the end of an uninterrupted sweep: here, the exit status, the message and the saved table
    stop(tiny_data, tmp_path / "runs", signal.SIGTERM, samples=3)


# ---------------------------------------------------------------------------------------------- fail fast

def fake_trial(trial_id):
    return SimpleNamespace(trial_id=trial_id)


@pytest.fixture
def policy(monkeypatch, tmp_path):
    """The retry policy of a driver running a run of the experiment folder tmp_path/exp, with request_stop
    recorded instead of sent to a Ray loop."""
    from sweep import failures, stopping

    asked = []
    monkeypatch.setattr(stopping, "request_stop", lambda error=None: asked.append(error) or True)
    policy = failures.RetryPolicy()
    policy.start_run(max_failures=3, fail_fast=3, experiment=tmp_path / "exp")
    policy.asked = asked
    return policy


def fail(policy, trial_id, summary, error_file=None):
    policy.saw_start(trial_id)
    policy.summaries[trial_id] = summary
    policy.check_fail_fast(fake_trial(trial_id), error_file)


def test_the_first_trials_failing_alike_before_any_report_stop_the_run_once(policy):
    from sweep.errors import FailFast

    fail(policy, "a", "AttributeError: 'NoneType' object has no attribute 'x'", "/e/trial_a.txt")
    fail(policy, "a", "AttributeError: 'NoneType' object has no attribute 'x'")  # a's retry: still one trial
    fail(policy, "b", "AttributeError: 'NoneType' object has no attribute 'x'")
    assert policy.asked == []
    fail(policy, "c", "AttributeError: 'NoneType' object has no attribute 'x'", "/e/trial_c.txt")
    assert len(policy.asked) == 1 and isinstance(policy.asked[0], FailFast)
    message = str(policy.asked[0])
    assert "\n" not in message and "the first 3 trials of 'exp' all failed with the same error before any report" \
        in message
    assert "AttributeError: 'NoneType' object has no attribute 'x'" in message and "/e/trial_c.txt" in message
    assert "--retry-errored" in message and FailFast.exit_status == 1


@pytest.mark.parametrize("case", ["a report came first", "errors differ", "fewer trials", "rule off",
                                  "one of the first trials runs"])
def test_failures_that_are_not_one_cause_do_not_stop_the_run(policy, case):
    same = "ConfigError: num_key_value_heads: 3 key/value heads do not divide 4 heads"
    if case == "rule off":
        policy.fail_fast = 0
    if case == "a report came first":
        policy.saw_report()
    if case == "one of the first trials runs":  # a space whose bad value fails its trials at once, good ones train
        policy.saw_start("good")
    fail(policy, "a", same)
    fail(policy, "b", "ActorDiedError: The actor died unexpectedly" if case == "errors differ" else same)
    if case != "fewer trials":
        fail(policy, "c", same)
    assert policy.asked == []


def test_a_new_run_of_the_driver_starts_the_rule_afresh(policy, tmp_path):
    fail(policy, "a", "E: x")
    policy.saw_report()
    policy.start_run(max_failures=3, fail_fast=2, experiment=tmp_path / "exp")  # the resume
    fail(policy, "b", "E: x")
    fail(policy, "c", "E: x")
    assert len(policy.asked) == 1


@pytest.mark.slow
def test_a_trainable_broken_at_its_first_line_stops_the_sweep_after_three_trials(tiny_data, tmp_path):
    module = tmp_path / "broken_trainable.py"
    module.write_text("def train(config, reporter=None):\n    return None.lower()\n")
    out = subprocess.run([*BABYSWEEP, "launch", str(TINY_SPACE), "--data", str(tiny_data), "--samples", "60",
                          "--trainable", "broken_trainable:train", "--storage", str(tmp_path / "runs"),
                          "--name", "broken", "--quiet"],
                         cwd=REPO, capture_output=True, text=True, timeout=600,
                         env={**__import__("os").environ, "PYTHONPATH": f"{tmp_path}:{REPO}"})
    assert out.returncode == 1, out.stderr[-3000:]
    errors = [line for line in out.stderr.splitlines() if line.startswith("babysweep: error")]
    assert len(errors) == 1, out.stderr[-3000:]
    assert "all failed with the same error before any report: AttributeError: 'NoneType' object has no attribute " \
           "'lower'" in errors[0]
    assert str(tmp_path / "runs" / "broken" / "errors") in errors[0]
    table = read_table(tmp_path / "runs" / "broken" / "results.csv")
    assert len(table) < 10, len(table)  # not 60 trials, each tried max_failures + 1 times


# ---------------------------------------------------------------------------------------------- Ray's temp folder

def test_the_private_ray_temp_folder_is_made_under_ray_tmpdir_and_a_killed_drivers_is_removed(tmp_path,
                                                                                               monkeypatch):
    import os

    from sweep.runtime import private_ray_temp_dir

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftover = tmp_path / f"bsray-{dead.pid}-abcd1234"  # what a SIGKILLed driver leaves: Ray had no time to clean
    (leftover / "session_latest").mkdir(parents=True)
    alive = tmp_path / f"bsray-{os.getpid()}-live0000"  # a running driver's: kept
    alive.mkdir()
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))

    made = private_ray_temp_dir()

    assert made.startswith(f"{tmp_path}/bsray-{os.getpid()}-") and os.path.isdir(made)
    assert not leftover.exists() and alive.exists()


def test_an_unusable_ray_tmpdir_is_one_line(tmp_path, monkeypatch):
    from sweep.errors import SweepError
    from sweep.runtime import private_ray_temp_dir

    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path / "a-file"))
    (tmp_path / "a-file").write_text("")
    with pytest.raises(SweepError, match=r"^RAY_TMPDIR .*a-file: cannot make Ray's temp folder there"):
        private_ray_temp_dir()


def test_a_run_holds_space_for_rays_last_save_and_frees_it_when_the_storage_fills(tmp_path):
    from sweep.stopping import STOP, SpaceReserve, request_stop, stoppable
    from trainables.errors import StorageError

    reserve = tmp_path / SpaceReserve.NAME
    with pytest.raises(StorageError):
        with stoppable(tmp_path):
            assert reserve.is_file() and reserve.stat().st_size > 0
            request_stop(StorageError("disk: No space left on device"))  # what a callback does on ENOSPC
            assert not reserve.exists()  # freed at once: Ray's last save as the run ends has room
    assert not reserve.exists() and STOP.reserve is None
    with stoppable(tmp_path):
        pass
    assert not reserve.exists()  # gone with every run
