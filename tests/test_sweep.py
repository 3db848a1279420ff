"""Sweeps on real tiny runs: the demo end to end, a sweep joining a local Ray head, a driver killed with
SIGKILL and resumed, and every bad input of launch/resume/status."""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO
from babysweep.cli import main
from sweep.table import read_history, read_table

BABYSWEEP = [sys.executable, "-m", "babysweep.cli"]
TINY_SPACE = REPO / "search_spaces" / "tiny_demo.yaml"


def babysweep(*args, timeout=600, **kw):
    return subprocess.run([*BABYSWEEP, *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=timeout, **kw)


@pytest.mark.slow
def test_demo_runs_the_whole_pipeline_and_leaves_a_report(tmp_path):
    out = babysweep("demo", "--samples", 4, "--words", 10_000, "--pairs", 10, "--top-k", 1, "--dir", tmp_path / "data",
                    "--storage", tmp_path / "runs")
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert len(lines) <= 200 and "log__" not in out.stdout
    for stage in ("sweep", "evaluate", "correlate", "rerun", "stability", "report"):
        assert f"[{stage}] done in" in out.stdout, stage
    assert any(line.startswith("[00:") and "best val_loss" in line for line in lines)  # the progress line
    findings = lines[lines.index("findings:") + 1:]
    # the demo scores --pairs 10 per paradigm: a quick look, and its findings say so
    assert findings[0].startswith("  built-in pairs (--limit 10): R² = ") and findings[1].startswith("  test loss: R² = ")
    assert "stability:" in findings[2] and "regressed when re-trained" in findings[2]
    report = tmp_path / "runs" / "demo" / "report.html"
    assert lines[-1] == f"report: {report}" and report.is_file()
    table = read_table(tmp_path / "runs" / "demo" / "results.csv")
    assert "builtin_pairs" in table and table["builtin_pairs"].notna().all()  # every model scored
    rerun = read_table(tmp_path / "runs" / "demo-rerun" / "results.csv")
    assert set(rerun["state"]) == {"TERMINATED"} and (rerun["source_trial_id"] == "baseline").sum() == 2
    assert rerun["source_trial_id"].nunique() == 2 and len(rerun) == 4  # --top-k 1: the best, and the baseline
    assert (tmp_path / "runs" / "demo-rerun" / "analysis" / "stability.md").is_file()


@pytest.mark.slow
def test_demo_quick_is_the_sweep_alone(tmp_path):
    t0 = time.time()
    out = babysweep("demo", "--quick", "--samples", 3, "--words", 10_000, "--dir", tmp_path / "data", "--storage",
                    tmp_path / "runs", "--quiet")
    assert out.returncode == 0, out.stderr[-3000:]
    table = read_table(tmp_path / "runs" / "demo" / "results.csv")
    assert len(table) == 3 and set(table["state"]) == {"TERMINATED"}
    assert table["val_loss"].notna().all()
    finished = table[table["epoch"] == 3]
    assert len(finished) >= 1 and finished["test_loss"].notna().all()
    for path in finished["checkpoint"]:
        assert (Path(path) / "model.safetensors").is_file()
    assert "best:" in out.stdout and "demo finished" in out.stdout
    # status reads the same table, also as JSON
    st = babysweep("status", "demo", "--storage", tmp_path / "runs", "--json")
    assert st.returncode == 0, st.stderr
    status = json.loads(st.stdout)
    assert status["counts"] == {"TERMINATED": 3} and status["best"]["val_loss"] == finished["val_loss"].min()
    print(f"demo at 3 trials: {time.time() - t0:.0f} s")


@pytest.fixture
def local_head():
    """A Ray head of our own (own port, own temp dir), stopped at the end: only that one."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    temp = tempfile.mkdtemp(prefix="bshead-", dir="/tmp")
    head = subprocess.Popen([str(Path(sys.executable).parent / "ray"), "start", "--head", f"--port={port}",
                             f"--temp-dir={temp}", "--num-cpus=2", "--include-dashboard=false", "--block"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        time.sleep(3)  # the raylet registers after the GCS port opens
        yield port
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(head.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        import shutil
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.slow
def test_launch_joins_a_local_head(tiny_data, tmp_path, local_head):
    # `--address auto` with RAY_ADDRESS naming our head: bare `auto` would take the newest Ray on the machine, which
    # another job's may be. Joining by address needs RAY_AUTH_MODE=token (docs/cluster.md)
    env = {**os.environ, "RAY_ADDRESS": f"127.0.0.1:{local_head}", "RAY_AUTH_MODE": "token"}
    out = babysweep("launch", TINY_SPACE, "--data", tiny_data, "--address", "auto", "--samples", 3,
                    "--storage", tmp_path / "runs", "--name", "onhead", "--quiet", env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Connected to Ray cluster" in out.stderr and "Started a local Ray instance" not in out.stderr
    table = read_table(tmp_path / "runs" / "onhead" / "results.csv")
    assert len(table) == 3 and set(table["state"]) == {"TERMINATED"}


@pytest.mark.slow
def test_killed_driver_then_resume_loses_and_reruns_nothing(tiny_data, tmp_path):
    runs = tmp_path / "runs"
    exp = runs / "crash"
    samples = 5  # killed once one has finished: trials done, running and not yet started
    driver = subprocess.Popen([*BABYSWEEP, "launch", str(TINY_SPACE), "--data", str(tiny_data), "--samples",
                               str(samples), "--max-concurrent", "2", "--storage", str(runs), "--name", "crash", "--quiet",
                               "--set", "num_epochs=3"],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    finished_before = None
    while time.time() < deadline:
        time.sleep(0.5)
        try:
            table = read_table(exp / "results.csv")
        except (FileNotFoundError, pd.errors.EmptyDataError):
            continue
        done = table[table["state"] == "TERMINATED"]
        if len(done) >= 1 and len(table) < samples:
            finished_before = done.set_index("trial_id")
            break
    assert finished_before is not None, "the sweep did not reach the point to kill it"
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the Ray it started: a crash, no clean-up
    driver.wait()
    killed_at = time.time()
    time.sleep(2)
    st = babysweep("status", "crash", "--storage", runs)
    assert f"driver stopped (driver pid {driver.pid} killed)" in st.stdout

    out = babysweep("resume", "crash", "--storage", runs, "--quiet")
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"its last driver (pid {driver.pid}) is gone; taking over its lock" in out.stdout  # the stale lock
    after = read_table(exp / "results.csv").set_index("trial_id")
    # the sweep completes its trials; a trial Ray's stored state never recorded (the driver died within
    # seconds of starting it) is marked LOST, not silently dropped
    assert (after["state"] == "TERMINATED").sum() == samples and set(after["state"]) <= {"TERMINATED", "LOST"}
    history = read_history(exp / "history.csv")
    for trial_id, row in finished_before.iterrows():
        assert after.loc[trial_id, "val_loss"] == row["val_loss"]  # not lost
        reports_after_kill = history[(history["trial_id"] == trial_id) & (history["time"] > killed_at)]
        assert reports_after_kill.empty, f"{trial_id} was re-run after resume"


# ---- bad input: one line, exit 2, nothing existing overwritten ----

def cli_error(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("babysweep: error")]
    return code, errors


def test_bad_launch_inputs(tiny_data, tmp_path, capsys):
    runs = tmp_path / "runs"
    not_dir = tmp_path / "file"
    not_dir.write_text("x")
    bad_space = tmp_path / "bad.yaml"
    bad_space.write_text("trainable: pretrain\nbudget: {min: 1, max: 3}\nparameters:\n  lr: {log_normal: [-5, -1]}\n")
    cases = [
        (["--trainable", "nosuch"], "--trainable nosuch: unknown trainable"),
        (["--trainable", "nosuch_pkg.mod:fn"], "--trainable nosuch_pkg.mod:fn: cannot import nosuch_pkg.mod"),
        (["--algo", "grid"], "--algo grid: unknown algorithm"),
        (["--keep", "worst"], "--keep worst: must be one of last, best"),
        (["--seeding", "sometimes"], "--seeding sometimes: must be one of per_trial, fixed"),
        (["--max-budget", "0.5"], "--max-budget 0.5: below one trial's minimum budget (1 epochs in"),
        (["--max-hours", "nan"], "--max-hours nan: must be a positive number"),
        (["--storage", not_dir / "sub"], "not writable"),
        (["--address", "127.0.0.1:1"], "--address 127.0.0.1:1: cannot reach a Ray head there"),
    ]
    for extra, expected in cases:
        t0 = time.time()
        code, errors = cli_error(capsys, "launch", TINY_SPACE, "--data", tiny_data, "--storage", runs, "--name", "x",
                                 *extra)
        assert code == 2 and len(errors) == 1 and expected in errors[0], (extra, errors)
        assert time.time() - t0 < 30
        assert not (runs / "x").exists()
    code, errors = cli_error(capsys, "launch", bad_space, "--data", tiny_data, "--storage", runs)
    assert code == 2 and "bad.yaml" in errors[0] and "lr" in errors[0] and "sigma" in errors[0]
    code, errors = cli_error(capsys, "launch", TINY_SPACE, "--data", tmp_path / "nodata", "--storage", runs)
    assert code == 2 and "nodata: no such prepared data folder" in errors[0]


def test_existing_name_is_refused_and_kept(tiny_data, tmp_path, capsys):
    exp = tmp_path / "runs" / "taken"
    exp.mkdir(parents=True)
    (exp / "results.csv").write_text("trial_id,state\nabc,TERMINATED\n")
    code, errors = cli_error(capsys, "launch", TINY_SPACE, "--data", tiny_data, "--storage", tmp_path / "runs",
                             "--name", "taken")
    assert code == 2 and "already exists" in errors[0] and "babysweep resume taken" in errors[0]
    assert (exp / "results.csv").read_text() == "trial_id,state\nabc,TERMINATED\n"


def test_resume_and_status_of_unknown_sweep(tmp_path, capsys):
    for cmd in ("resume", "status"):
        code, errors = cli_error(capsys, cmd, "ghost", "--storage", tmp_path)
        assert code == 2 and "no sweep named 'ghost'" in errors[0]


def test_unreachable_auto_address_fails_fast(tiny_data, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")  # what `auto` resolves to first: nothing listens there
    t0 = time.time()
    code, errors = cli_error(capsys, "launch", TINY_SPACE, "--data", tiny_data, "--storage", tmp_path / "runs",
                             "--name", "auto", "--address", "auto")
    assert code == 2 and "--address auto" in errors[0]
    assert time.time() - t0 < 30
    assert not (tmp_path / "runs" / "auto").exists()
