"""How many of the demo sweep's models reach the analysis, and the R² they give: this tree against an earlier commit.

    python benchmarks/bench_scored_trials.py --against f63b12b     # the demo, evaluate, correlate, on both

Each side runs `babysweep demo` (16 trials, seed 0), `babysweep evaluate demo` on the built-in minimal pairs and
`babysweep analyze correlate demo`, with its own code (the earlier commit in a temporary git worktree, first on
PYTHONPATH) and this Python environment. Prints, per side, the trials, how many got a BLiMP score, and R² of BLiMP
on validation loss with its bootstrap 95% interval. The paper's Fig. 2 has every model of the sweep; a sweep that
scores only the trials that completed their schedule drops the high-loss tail.
"""
import argparse
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from earlier_commit import earlier_commit

REPO = Path(__file__).resolve().parents[1]


def babysweep(code: Path, *args):
    env = dict(os.environ, PYTHONPATH=str(code))
    cli = "babysweep.cli" if (code / "babysweep" / "cli").is_dir() else "sweep.cli"  # before the front door
    out = subprocess.run([sys.executable, "-m", cli, *map(str, args)], cwd=code, env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"babysweep {' '.join(map(str, args))} failed in {code}:\n{out.stderr[-2000:]}")
    return out.stdout


def one_side(code: Path, work: Path, samples: int) -> dict:
    data, runs = work / "data", work / "runs"
    babysweep(code, "demo", "--samples", samples, "--dir", data, "--storage", runs, "--quiet")
    pairs = next(data.glob("corpus-*")) / "blimp"
    babysweep(code, "evaluate", "demo", "--storage", runs, "--blimp", pairs)
    babysweep(code, "analyze", "correlate", "demo", "--storage", runs, "--bootstrap", "2000")
    table = pd.read_csv(runs / "demo" / "results.csv", dtype={"trial_id": str})
    report = pd.read_csv(runs / "demo" / "analysis" / "correlate.csv").set_index("y")
    suite = "builtin_pairs" if "builtin_pairs" in table else "blimp_filtered"  # the built-in pairs' column before issue 13
    fit = report.loc[suite] if suite in report.index else None
    return {"trials": len(table), "scored": int(table[suite].notna().sum()),
            "test_loss": int(table["test_loss"].notna().sum()),
            "r2": None if fit is None else (fit["r2"], fit["r2_lo"], fit["r2_hi"], int(fit["n"]))}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--against", required=True, help="the earlier commit")
    p.add_argument("--samples", type=int, default=16)
    args = p.parse_args()
    with earlier_commit(args.against, "bench-scored-") as (root, old):
        for label, code in ((f"commit {args.against}", old), ("this tree", REPO)):
            r = one_side(code, root / label.replace(" ", "-"), args.samples)
            fit = "no fit" if r["r2"] is None else \
                f"R² {r['r2'][0]:.3f} [{r['r2'][1]:.3f}, {r['r2'][2]:.3f}] over n = {r['r2'][3]}"
            print(f"{label:>16}: {r['scored']} of {r['trials']} trials with a BLiMP score, {r['test_loss']} with a "
                  f"test loss; BLiMP filtered on validation loss: {fit}", flush=True)


if __name__ == "__main__":
    main()
