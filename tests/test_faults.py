"""Faults a trial survives (issue 14): a damaged checkpoint, a history with epochs reported twice, a worker process
killed mid-epoch, a trial whose own error is not retried. The Ray runs are marked slow; the multi-node test is in
tests/test_cluster.py."""
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from conftest import REPO, TINY_TRAIN, watch_table
from sweep.table import read_history, read_table
from trainables.errors import CheckpointError
from trainables.pretrain import pretrain
from trainables.reporting import run_local

BABYSWEEP = [sys.executable, "-m", "babysweep.cli"]
TINY_SPACE = REPO / "search_spaces" / "tiny_demo.yaml"


def run(tiny_data, tmp_path, name, stop_after=None, restore_from=None):
    return run_local(pretrain, dict(TINY_TRAIN, data=str(tiny_data)), tmp_path / name, restore_from=restore_from,
                     stop_after=stop_after)


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # what a kill in the middle of torch.save leaves


@pytest.mark.slow  # trains a model
def test_a_damaged_checkpoint_is_skipped_for_the_previous_one_with_a_warning(tiny_data, tmp_path, capfd):
    full = run(tiny_data, tmp_path, "full")
    cut = run(tiny_data, tmp_path, "cut", stop_after=3)
    truncate(cut.checkpoints[-1] / "trainer_state.pt")

    resumed = run(tiny_data, tmp_path, "resumed", restore_from=cut.checkpoints[-1])

    # back to the checkpoint of report 2: reports 3 and 4 again, exactly as the uninterrupted run
    assert [r["epoch"] for r in resumed.results] == [0.75, 1]
    assert abs(resumed.results[-1]["val_loss"] - full.results[-1]["val_loss"]) < 1e-5
    warning = resumed.results[0]["warning"]
    assert warning.startswith("checkpoint checkpoint_000002 is damaged (checkpoint_000002: ")
    assert "resumed from the previous checkpoint checkpoint_000001" in warning
    assert "warning" not in resumed.results[1]  # said once
    assert "warning: checkpoint checkpoint_000002 is damaged" in capfd.readouterr().err


@pytest.mark.slow  # trains a model
def test_no_readable_checkpoint_is_one_line(tiny_data, tmp_path):
    cut = run(tiny_data, tmp_path, "cut", stop_after=2)
    for checkpoint in cut.checkpoints:
        truncate(checkpoint / "trainer_state.pt")
    with pytest.raises(CheckpointError, match="no readable checkpoint to resume from") as e:
        run(tiny_data, tmp_path, "resumed", restore_from=cut.checkpoints[-1])
    assert "\n" not in str(e.value)


def test_epochs_reported_again_after_going_back_are_read_once_and_marked(tmp_path):
    path = tmp_path / "history.csv"
    pd.DataFrame([("a", 1, 3.0), ("a", 2, 2.5), ("b", 1, 3.1), ("a", 2, 2.4), ("a", 3, 2.2)],
                 columns=["trial_id", "epoch", "val_loss"]).to_csv(path, index=False)
    history = read_history(path)
    assert list(zip(history["trial_id"], history["epoch"], history["val_loss"])) == [
        ("a", 1, 3.0), ("b", 1, 3.1), ("a", 2, 2.4), ("a", 3, 2.2)]  # the report the trial went on from
    marked = read_history(path, redone=True)
    assert list(marked["redone"]) == [False, True, False, False, False]


# ---------------------------------------------------------------------------------------------- on Ray

def launch(tmp_path, tiny_data, name, *extra):
    return subprocess.Popen([*BABYSWEEP, "launch", str(TINY_SPACE), "--data", str(tiny_data), "--algo", "random",
                             "--samples", "1", "--storage", str(tmp_path / "runs"), "--name", name, "--quiet",
                             "--set", "num_epochs=3", "--set", "budget_step=0.5", *extra],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


@pytest.mark.slow
def test_a_trial_whose_worker_is_killed_resumes_from_its_checkpoint_and_ends_as_if_uninterrupted(tiny_data,
                                                                                                  tmp_path):
    killed = launch(tmp_path, tiny_data, "killed")
    table_path = tmp_path / "runs" / "killed" / "results.csv"
    victim = watch_table(table_path, lambda table: int(table["worker_pid"].iloc[0])
                         if "worker_pid" in table and (table["epoch"] >= 1.0).any() else None, killed)
    assert victim is not None, "the trial did not reach its second epoch"
    time.sleep(0.5)  # into the epoch, between two reports
    os.kill(victim, signal.SIGKILL)  # the trial's Ray worker process, by its PID
    out, err = killed.communicate(timeout=600)
    assert killed.returncode == 0, err[-3000:]

    clean = launch(tmp_path, tiny_data, "clean")
    _, err = clean.communicate(timeout=600)
    assert clean.returncode == 0, err[-3000:]

    row = read_table(table_path).iloc[0]
    reference = read_table(tmp_path / "runs" / "clean" / "results.csv").iloc[0]
    assert row["state"] == "TERMINATED" and row["epoch"] == 3 and row["failures"] == 1
    assert row["worker_pid"] != victim
    assert "ActorDiedError" in row["error"] or "died" in row["error"].lower(), row["error"]
    assert os.path.isfile(row["error_file"]) and str(tmp_path / "runs" / "killed" / "errors") in row["error_file"]
    assert abs(row["val_loss"] - reference["val_loss"]) < 1e-5 and abs(row["test_loss"] - reference["test_loss"]) < 1e-5
    history = read_history(tmp_path / "runs" / "killed" / "history.csv")
    assert list(history["epoch"]) == [0.5, 1, 1.5, 2, 2.5, 3]
    assert "retried" in out and "failed 1 time(s)" in out  # the summary says what happened


@pytest.mark.slow
def test_a_trials_own_error_is_not_retried_and_the_sweep_exits_nonzero_with_a_hint(tiny_data, tmp_path):
    # the space's centre passes launch's check; a trial that draws 3 key-value heads for 4 heads fails in Ray
    space = tmp_path / "heads.yaml"
    space.write_text(TINY_SPACE.read_text().replace("parameters:\n", "parameters:\n  num_key_value_heads: "
                                                                     "{choice: [2, 3]}\n"))
    out = subprocess.run([*BABYSWEEP, "launch", str(space), "--data", str(tiny_data), "--algo", "random",
                          "--samples", "4", "--storage", str(tmp_path / "runs"), "--name", "heads", "--quiet",
                          "--set", "num_epochs=1", "--seed", "3",
                          "--fail-fast", "0"],  # its first 3 draws all fail alike: the rule would stop the sweep
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    table = read_table(tmp_path / "runs" / "heads" / "results.csv")
    errored = table[table["state"] == "ERROR"]
    assert len(errored) >= 1, table[["state", "config/num_key_value_heads"]]
    assert (errored["config/num_key_value_heads"] == 3).all() and (errored["failures"] == 1).all()  # not retried
    assert (table.loc[table["config/num_key_value_heads"] == 2, "state"] == "TERMINATED").all()
    assert errored["error"].str.startswith("ConfigError: num_key_value_heads: 3 key/value heads do not divide 4").all(), list(errored["error"])
    assert out.returncode == 1
    assert "--retry-errored" in out.stderr.splitlines()[-1]
    for _, row in errored.iterrows():
        assert f"error: {row['trial_id']}, failed 1 time(s): ConfigError" in out.stdout
        assert "ConfigError" in open(row["error_file"]).read()
