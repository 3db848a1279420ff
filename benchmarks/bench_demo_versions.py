"""The demo's wall time, this working tree against an earlier commit, side by side in one run.

    python benchmarks/bench_demo_versions.py --against f63b12b            # A B B A, 16 trials each
    python benchmarks/bench_demo_versions.py --against HEAD~3 --samples 8 --rounds 1

The earlier commit is checked out in a temporary git worktree and run with this same Python environment
(PYTHONPATH puts its packages first; Ray's workers inherit it). Runs alternate A B B A (A: the earlier commit,
B: this tree) so that drift in the machine's speed falls on both alike; the first run of each pays for the
built-in corpus and its preparation, the second reuses them. Prints each run's wall time and the ratio B / A of
the summed times. A figure, not a test: these machines are noisy.
"""
import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from earlier_commit import earlier_commit

REPO = Path(__file__).resolve().parents[1]


def run_demo(code: Path, work: Path, samples: int) -> float:
    env = dict(os.environ, PYTHONPATH=str(code))
    # the command's module where that commit has it (sweep.cli before the babysweep front door)
    cli = "babysweep.cli" if (code / "babysweep" / "cli").is_dir() else "sweep.cli"
    args = [sys.executable, "-m", cli, "demo", "--samples", str(samples), "--dir", str(work / "data"),
            "--storage", str(work / "runs"), "--quiet"]
    t0 = time.perf_counter()
    out = subprocess.run(args, cwd=code, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"demo failed in {code}:\n{out.stderr[-2000:]}")
    return wall


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--against", required=True, help="the earlier commit (A)")
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--rounds", type=int, default=1, help="A B B A rounds (default 1)")
    args = p.parse_args()

    with earlier_commit(args.against, "bench-demo-") as (root, old):
        times = {"A": [], "B": []}
        for _ in range(args.rounds):
            for label in "ABBA":
                code = old if label == "A" else REPO
                wall = run_demo(code, root / label, args.samples)
                times[label].append(wall)
                print(f"{label} ({'commit ' + args.against if label == 'A' else 'this tree'}): {wall:6.1f} s",
                      flush=True)
        a, b = sum(times["A"]), sum(times["B"])
        print(f"\ndemo, {args.samples} trials: A {a / len(times['A']):.1f} s, B {b / len(times['B']):.1f} s on "
              f"average; B / A = {b / a:.3f}")


if __name__ == "__main__":
    main()
