"""Stability re-runs on a real tiny sweep: top 2 with 2 new seeds, the analysis table and plot, the resume of
an interrupted re-run, and the bad inputs."""
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from analysis.stability import stability_report
from conftest import REPO
from babysweep.cli import main
from sweep.rerun import launch_rerun
from sweep.table import read_history, read_table

TINY_SPACE = REPO / "search_spaces" / "tiny_demo.yaml"

pytestmark = pytest.mark.slow  # every test runs on the real small_sweep (conftest.py)


def test_rerun_top2_two_seeds_and_stability(small_sweep, capsys):
    exp = launch_rerun("small", top_k=2, seeds=2, baseline=True, storage=str(small_sweep), verbose=0)
    source = read_table(small_sweep / "small" / "results.csv")
    rerun = read_table(exp / "results.csv")
    assert len(rerun) == 6 and set(rerun["state"]) == {"TERMINATED"}
    assert rerun["test_loss"].notna().all()  # full budget, no early stopping: 3 epochs, 8 for the paper's teacher
    assert (rerun.loc[rerun["source_trial_id"] != "baseline", "epoch"] == 3).all()
    assert (rerun.loc[rerun["source_trial_id"] == "baseline", "epoch"] == 8).all()
    # seeds: each sweep trial its own initialisation on one data order; a re-run changes the initialisation only
    assert source["seed"].nunique() == len(source) and set(source["config/data_seed"]) == {0}
    assert sorted(set(rerun["seed"])) == [1000, 1001] and set(rerun["config/data_seed"]) == {0}
    finished = source[(source["state"] == "TERMINATED") & (source["epoch"] == 3)].sort_values("val_loss")
    top2 = finished["trial_id"].head(2).tolist()
    assert set(rerun["source_trial_id"]) == set(top2) | {"baseline"}
    for tid in top2:  # same configuration as the source trial, only the seed differs
        src = source.set_index("trial_id").loc[tid]
        assert src["seed"] not in (1000, 1001)
        for _, row in rerun[rerun["source_trial_id"] == tid].iterrows():
            assert row["config/lr"] == pytest.approx(src["config/lr"]) and row["config/batch_size"] == src["config/batch_size"]
    teacher = rerun[rerun["source_trial_id"] == "baseline"].iloc[0]  # paper Table 2 on the sweep's tiny model
    assert (teacher["config/lr"], teacher["config/batch_size"], teacher["config/weight_decay"],
            teacher["config/lr_scheduler_type"], teacher["config/num_warmup_steps"], teacher["config/preset"]) == \
        (7e-4, 128, 5.0, "cosine", 600, "tiny")
    markdown, paths = stability_report(source, rerun, exp / "analysis")
    table = pd.read_csv(paths["stability.csv"])
    assert set(table["source_trial_id"]) == set(top2) | {"baseline"}
    orig = table.set_index("source_trial_id")["original"]
    for tid in top2:
        assert orig[tid] == pytest.approx(source.set_index("trial_id").loc[tid, "val_loss"])
    assert set(table["verdict"].dropna()) <= {"stable", "regressed", "-"}
    assert "Verdict rule: regressed when" in markdown
    assert paths["stability_val_loss.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # and through the CLI
    assert main(["analyze", "stability", "small", "--storage", str(small_sweep)]) == 0
    assert "re-seeded mean" in capsys.readouterr().out


def test_interrupted_rerun_resumes(small_sweep, tmp_path):
    # one configuration, 3 seeds: two run at once, the third after them, so there is a time with part of it done
    args = [sys.executable, "-m", "babysweep.cli", "rerun", "small", "--top-k", "1", "--seeds", "3", "--storage",
            str(small_sweep), "--rerun-name", "cut", "--quiet"]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    exp = small_sweep / "cut"
    done_before = None
    deadline = time.time() + 240
    while time.time() < deadline and done_before is None:
        time.sleep(0.5)
        try:
            t = read_table(exp / "results.csv")
        except (FileNotFoundError, pd.errors.EmptyDataError):
            continue
        if 1 <= (t["state"] == "TERMINATED").sum() < 3:  # killed with part of the re-run done
            done_before = t[t["state"] == "TERMINATED"].set_index("trial_id")
    assert done_before is not None
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = time.time()
    assert main(["resume", "cut", "--storage", str(small_sweep), "--quiet"]) == 0
    after = read_table(exp / "results.csv").set_index("trial_id")
    done = after[after["state"] == "TERMINATED"]
    assert len(done) == 3 and set(after["state"]) <= {"TERMINATED", "LOST"}
    assert set(zip(done["source_trial_id"], done["seed"])) == set(zip(done_before["source_trial_id"], done_before["seed"])) | set(zip(done["source_trial_id"], done["seed"]))
    assert len(set(zip(done["source_trial_id"], done["seed"]))) == 3  # every planned (configuration, seed) once
    history = read_history(exp / "history.csv")
    for tid, row in done_before.iterrows():
        assert after.loc[tid, "val_loss"] == row["val_loss"]
        assert history[(history["trial_id"] == tid) & (history["time"] > killed_at)].empty


def test_rerun_bad_inputs(small_sweep, capsys):
    def err(*argv):
        code = main([str(a) for a in argv])
        lines = [l for l in capsys.readouterr().err.splitlines() if l.startswith("babysweep: error")]
        return code, lines

    code, lines = err("rerun", "nosuch", "--storage", small_sweep)
    assert code == 2 and "no sweep named 'nosuch'" in lines[0]
    code, lines = err("rerun", "small", "--seeds", 1, "--storage", small_sweep)
    assert code == 2 and "--seeds 1: at least 2 seeds" in lines[0]
    code, lines = err("rerun", "small", "--reseed", "weights", "--storage", small_sweep)
    assert code == 2 and "--reseed weights: must be one of init, data, both" in lines[0]
    code, lines = err("rerun", "small", "--trials", "deadbeef", "--storage", small_sweep)
    assert code == 2 and "--trials deadbeef: no such trial" in lines[0]
    source = read_table(small_sweep / "small" / "results.csv")
    stopped = source[source["checkpoint"].isna()]["trial_id"]
    if len(stopped):
        code, lines = err("rerun", "small", "--trials", stopped.iloc[0], "--storage", small_sweep)
        assert code == 2 and "no final checkpoint" in lines[0]
    assert not (small_sweep / "small-rerun-x").exists()


def test_top_k_larger_than_eligible_uses_what_there_is(small_sweep):
    from search_spaces.loader import load_space
    from sweep.rerun import select

    source = read_table(small_sweep / "small" / "results.csv")
    rows, notes = select(source, load_space(TINY_SPACE).budget_max, top_k=50)
    eligible = ((source["state"] == "TERMINATED") & (source["epoch"] == 3)).sum()
    assert len(rows) == eligible and any("only" in n and "eligible" in n for n in notes)
