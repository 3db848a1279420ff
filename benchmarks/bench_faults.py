"""Fault injection on a two-node cluster: what losing a node twice costs a sweep, against the same sweep without
faults, side by side in one run.

    python benchmarks/bench_faults.py               # 12 trials of the demo space on the demo corpus, 2 kills
    python benchmarks/bench_faults.py --samples 6 --kills 1 --words 30000

Both sweeps run on a fresh local cluster (sweep/local_cluster.py: a head and a second node, one CPU each, own temp
dirs and ports, token auth), launched with `babysweep launch --address`. In the faulty one the second node is
killed (SIGKILL to every process of that node, by PID) at random moments (seeded) between 15% and 80% of the
fault-free sweep's wall time, and joins again a few seconds later, so it can be killed again.

Figures per sweep: trials finished, trials retried (failures > 0 in the results table), trials in ERROR, epochs
reported twice (history lines marked redone), epochs re-done (for each trial running at a kill: the time from
its last report before the kill, or its start, to the kill, in epochs of that trial: the work lost since its last
checkpoint; it includes the start-up of a trial that had not reported yet), the epochs
all trials reported, and the wall time.

A second table stops the driver instead, on a private local Ray, against the same sweep run through: Ctrl-C
(SIGINT to the driver once a trial has reported and trials are still to come) then `babysweep resume`, and a full
disk (the storage on a tmpfs too small for the sweep, made larger once the sweep has stopped, then `babysweep
resume`; needs root to mount, else "not measured"). Figures: the stopped run's exit status, trials finished,
trials lost (a trial of the uninterrupted run, by its initialisation seed, that did not finish), epochs reported
twice, trials whose final epoch or validation loss differs from the uninterrupted run's, and the wall time of both
commands together.
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def run_sweep(data: Path, storage: Path, name: str, samples: int, kill_at=(), seed=0, log=print) -> dict:
    """One sweep on a fresh two-node cluster, killing (and re-adding) the second node at the seconds `kill_at`."""
    from sweep.local_cluster import LocalCluster

    kills = []
    with LocalCluster(workers=1, cpus=1) as cluster:
        t0 = time.time()
        driver = subprocess.Popen(
            [sys.executable, "-m", "babysweep.cli", "launch", str(REPO / "search_spaces" / "tiny_demo.yaml"),
             "--data", str(data), "--samples", str(samples), "--seed", str(seed), "--address", cluster.address,
             "--storage", str(storage), "--name", name, "--quiet"],
            cwd=REPO, env=cluster.driver_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for at in kill_at:
            while time.time() - t0 < at and driver.poll() is None:
                time.sleep(0.2)
            if driver.poll() is not None:
                break
            node = cluster.workers.pop()
            kills.append(time.time())
            node.kill()
            log(f"  {name}: killed the second node at {kills[-1] - t0:.0f} s")
            time.sleep(3)
            cluster.workers.append(cluster.add_node())
            log(f"  {name}: a new second node joined at {time.time() - t0:.0f} s")
        _, err = driver.communicate()
        wall = time.time() - t0
    if driver.returncode not in (0, 1):
        raise RuntimeError(f"{name}: babysweep launch exited {driver.returncode}: {err[-2000:]}")
    return figures(storage / name, wall, kills)


def figures(exp: Path, wall: float, kills: list) -> dict:
    from sweep.table import read_history, read_table

    table = read_table(exp / "results.csv")
    history = read_history(exp / "history.csv", redone=True)
    failures = table["failures"].fillna(0) if "failures" in table else table["epoch"] * 0
    redone = 0.0
    started = table.set_index("trial_id")["started_at"]
    for trial_id in table.loc[failures > 0, "trial_id"]:
        h = history[history["trial_id"] == trial_id].sort_values("time")
        per_epoch = float(h["wall_s"].max() / h["epoch"].max())
        for kill in kills:
            # running at this kill: started before it, reported after it; the work lost is that since its last
            # report (its last checkpoint), or since its start when it had not reported yet
            if started[trial_id] < kill and (h["time"] > kill).any():
                last = max([started[trial_id], *h.loc[h["time"] <= kill, "time"]])
                redone += (kill - last) / per_epoch
    return {"trials finished": int((table["state"] == "TERMINATED").sum()),
            "trials retried": int((failures > 0).sum()), "trials in ERROR": int((table["state"] == "ERROR").sum()),
            "failures": int(failures.sum()), "epochs reported twice": int(history["redone"].sum()),
            "epochs re-done (est.)": round(redone, 2), "epochs reported": float(table["epoch"].sum()),
            "wall time (s)": round(wall, 1)}


def launch_local(data, storage, name, samples, seed):
    return subprocess.Popen(
        [sys.executable, "-m", "babysweep.cli", "launch", str(REPO / "search_spaces" / "tiny_demo.yaml"), "--data",
         str(data), "--samples", str(samples), "--seed", str(seed), "--storage", str(storage), "--name", name,
         "--quiet"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def resume_local(storage, name):
    return subprocess.run([sys.executable, "-m", "babysweep.cli", "resume", name, "--storage", str(storage), "--quiet"],
                          cwd=REPO, capture_output=True, text=True)


def stopped_sweep(data, root: Path, name, samples, seed, how, log=print):
    """One sweep on a private local Ray, stopped `how` (None: not at all, "ctrl-c", "disk full") and resumed.
    Returns (its experiment folder, exit status of the stopped run, wall seconds), or a reason it was not run."""
    import signal

    from sweep.table import read_table

    storage = root / f"runs-{name}"
    disk = None
    if how == "disk full":
        disk = root / f"disk-{name}"
        disk.mkdir()
        mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], capture_output=True,
                               text=True)
        if mount.returncode:
            return f"not measured (cannot mount a small tmpfs: {mount.stderr.strip() or 'needs root'})"
        storage = disk / "runs"
    try:
        t0 = time.time()
        driver = launch_local(data, storage, name, samples, seed)
        if how == "ctrl-c":
            table = storage / name / "results.csv"
            while driver.poll() is None:
                time.sleep(0.2)
                try:
                    t = read_table(table)
                except Exception:
                    continue
                if "epoch" in t and (t["epoch"] >= 1).any() and len(t) < samples:
                    driver.send_signal(signal.SIGINT)
                    log(f"  {name}: SIGINT at {time.time() - t0:.0f} s")
                    break
        _, err = driver.communicate()
        status = driver.returncode
        if how is not None:
            if how == "disk full":
                subprocess.run(["mount", "-o", "remount,size=500m", str(disk)], check=True)
                log(f"  {name}: the disk filled (exit {status}: {err.strip().splitlines()[-1][:120]}); made larger")
            resumed = resume_local(storage, name)
            if resumed.returncode != 0:
                raise RuntimeError(f"{name}: resume exited {resumed.returncode}: {resumed.stderr[-2000:]}")
        return storage / name, status, time.time() - t0
    except BaseException:
        if disk is not None:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)
        raise


def compared(exp: Path, clean: Path) -> dict:
    """A stopped-and-resumed sweep against the uninterrupted one, trial by trial (by initialisation seed)."""
    from sweep.table import read_history, read_table

    def finals(path):
        t = read_table(path / "results.csv")
        return {int(r["seed"]): (r["state"], float(r["epoch"]), float(r["val_loss"])) for _, r in t.iterrows()}

    mine, theirs = finals(exp), finals(clean)
    history = read_history(exp / "history.csv", redone=True)
    return {"trials finished": sum(s == "TERMINATED" for s, _, _ in mine.values()),
            "trials lost": sum(seed not in mine or mine[seed][0] != "TERMINATED" for seed in theirs),
            "epochs reported twice": int(history["redone"].sum()),
            "trials ending otherwise": sum(seed in mine and (mine[seed][1] != e or abs(mine[seed][2] - v) > 1e-5)
                                           for seed, (_, e, v) in theirs.items())}


def driver_endings(data, root: Path, samples, seed):
    """The second table: Ctrl-C and a full disk against the uninterrupted sweep."""
    clean, _, clean_wall = stopped_sweep(data, root, "through", samples, seed, None)
    rows = {"run through": {**compared(clean, clean), "exit status": 0, "wall time (s)": round(clean_wall, 1)}}
    for how in ("ctrl-c", "disk full"):
        got = stopped_sweep(data, root, how.replace(" ", "-"), samples, seed, how)
        if isinstance(got, str):
            rows[how] = got
            continue
        exp, status, wall = got
        rows[f"{how}, then resume"] = {**compared(exp, clean), "exit status": status, "wall time (s)": round(wall, 1)}
        if how == "disk full":
            subprocess.run(["umount", "-l", str(exp.parents[1])], capture_output=True)
    print()
    names = list(rows)
    keys = next(v for v in rows.values() if isinstance(v, dict)).keys()
    print("| figure | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for key in keys:
        print(f"| {key} | " + " | ".join(str(rows[n][key]) if isinstance(rows[n], dict) else rows[n]
                                         for n in names) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=12)
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--words", type=int, default=100_000, help="built-in corpus size (the demo's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the searcher and of the kill moments")
    parser.add_argument("--only", choices=["nodes", "endings"], help="one of the two tables (default: both)")
    args = parser.parse_args()

    from sweep.demo import demo_data

    with tempfile.TemporaryDirectory(prefix="bench-faults-") as root:
        root = Path(root)
        data = demo_data(root / "data", words=args.words, log=lambda m: None)
        if args.only == "endings":
            print(f"{args.samples} trials of tiny_demo.yaml on the built-in corpus ({args.words} words), a private "
                  f"local Ray; {os.cpu_count()} cores here")
            driver_endings(data, root, args.samples, args.seed)
            return
        print(f"{args.samples} trials of tiny_demo.yaml on the built-in corpus ({args.words} words), two nodes of "
              f"1 CPU each; {os.cpu_count()} cores here")
        clean = run_sweep(data, root / "runs", "clean", args.samples, seed=args.seed)
        rng = random.Random(args.seed)
        span = clean["wall time (s)"]
        kill_at = sorted(rng.uniform(0.15 * span, 0.8 * span) for _ in range(args.kills))
        for i in range(1, len(kill_at)):  # a node needs a few seconds to join again before it can be lost again
            kill_at[i] = max(kill_at[i], kill_at[i - 1] + 15)
        print(f"kills planned at {', '.join(f'{t:.0f} s' for t in kill_at)}")
        faulty = run_sweep(data, root / "runs", "faulty", args.samples, kill_at=kill_at, seed=args.seed)
        print()
        print(f"| figure | no faults | {args.kills} node kills | faulty / clean |")
        print("|---|---|---|---|")
        for key in clean:
            a, b = clean[key], faulty[key]
            ratio = f"{b / a:.2f}" if isinstance(a, (int, float)) and a else "-"
            print(f"| {key} | {a:g} | {b:g} | {ratio} |", flush=True)
        if args.only is None:
            driver_endings(data, root, args.samples, args.seed)


if __name__ == "__main__":
    main()
