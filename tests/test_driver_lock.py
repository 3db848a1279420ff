"""One driver per experiment (sweep/folder.py, driver_lock): a second launch --overwrite or resume of a running
experiment is refused with one line naming the driver; the lock of a killed driver does not block a resume."""
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import copy_legacy
from sweep import folder
from babysweep.cli import main
from sweep.errors import SweepError



@pytest.fixture
def storage(tmp_path):
    return copy_legacy(tmp_path / "runs")


@pytest.fixture
def live_process():
    """A process of this host that is alive: stands for a driver running in another terminal."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def hold(exp, pid, host=None, age_s=0.0):
    """driver.json as a driver of pid on host wrote it, its last heartbeat age_s ago."""
    path = exp / folder.DRIVER
    path.write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(), "started": time.time() - age_s,
                                "heartbeat_s": folder.HEARTBEAT_S}))
    os.utime(path, (time.time() - age_s, time.time() - age_s))


def error_lines(capsys):
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("babysweep: error")]


def test_a_running_experiment_is_not_resumed_twice(storage, capsys, live_process):
    exp = storage / "legacy"
    hold(exp, live_process)
    before = {p: p.read_bytes() for p in exp.rglob("*") if p.is_file()}
    assert main(["resume", "legacy", "--storage", str(storage)]) == 2
    err = error_lines(capsys)
    assert len(err) == 1 and f"experiment 'legacy' is running now (driver pid {live_process}" in err[0]
    assert {p: p.read_bytes() for p in exp.rglob("*") if p.is_file()} == before


def test_launch_overwrite_never_deletes_a_running_experiment(storage, capsys, live_process, tiny_data):
    exp = storage / "legacy"
    hold(exp, live_process, host="node-7", age_s=5)  # a driver on another node, heartbeat 5 s ago
    before = sorted(p.relative_to(exp) for p in exp.rglob("*"))
    space = Path(__file__).parents[1] / "search_spaces" / "tiny_demo.yaml"
    assert main(["launch", str(space), "--data", str(tiny_data), "--storage", str(storage), "--name", "legacy",
                 "--overwrite"]) == 2
    err = error_lines(capsys)
    assert len(err) == 1 and f"driver pid {live_process} on node-7" in err[0]
    assert sorted(p.relative_to(exp) for p in exp.rglob("*")) == before


@pytest.mark.parametrize("how", ["process gone", "heartbeat stopped on another host", "torn file"])
def test_the_lock_of_a_killed_driver_is_taken_over_saying_so(storage, how):
    exp = storage / "legacy"
    if how == "process gone":
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        hold(exp, gone.pid)
    elif how == "heartbeat stopped on another host":
        hold(exp, 12345, host="node-7", age_s=folder.STALE_AFTER_S + 5)
    else:
        (exp / folder.DRIVER).write_text('{"pid": 12')
    assert folder.driver_state(exp).startswith("stopped")
    said = []
    with folder.driver_lock(exp, log=said.append):
        assert json.loads((exp / folder.DRIVER).read_text())["pid"] == os.getpid()
        assert folder.driver_state(exp) == f"running (pid {os.getpid()})"
    assert len(said) == 1 and "is gone; taking over its lock" in said[0]
    assert not (exp / folder.DRIVER).exists() and not list(exp.glob(".driver.json*"))


def test_a_lock_is_held_with_a_heartbeat_and_released_at_the_end(storage, monkeypatch):
    exp = storage / "legacy"
    monkeypatch.setattr(folder, "HEARTBEAT_S", 0.05)
    with folder.driver_lock(exp):
        path = exp / folder.DRIVER
        os.utime(path, (time.time() - 60, time.time() - 60))
        time.sleep(0.3)
        assert time.time() - path.stat().st_mtime < 5  # touched again by the heartbeat
        with folder.driver_lock(exp):  # the same process again (a grid's resume fits twice): no deadlock
            pass
        assert path.exists()
        hold(storage / "legacy", os.getpid())
    assert not (exp / folder.DRIVER).exists()


def test_a_second_driver_in_another_process_is_refused_while_the_first_holds_the_lock(storage):
    exp = storage / "legacy"
    code = ("import sys, time; sys.path.insert(0, sys.argv[2]); from sweep import folder; from pathlib import Path\n"
            "with folder.driver_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(30)")
    first = subprocess.Popen([sys.executable, "-c", code, str(exp), str(Path(__file__).parents[1])],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "held"
        with pytest.raises(SweepError, match=f"running now \\(driver pid {first.pid}"):
            with folder.driver_lock(exp):
                pass
    finally:
        first.kill()
        first.wait()
    with folder.driver_lock(exp, log=lambda m: None):  # killed: its lock is stale now
        pass
