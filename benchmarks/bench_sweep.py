"""Sweep orchestration on the built-in corpus: overhead, trial start latency, and BOHB against ASHA and random
search at equal total budget.

    python benchmarks/bench_sweep.py                  # demo overhead + 3 algorithms x 3 searcher seeds
    python benchmarks/bench_sweep.py --skip-compare   # only the demo figures

Figures:
- orchestration overhead = 1 - (summed trial compute) / (wall time x trial slots), where trial compute is the
  time each trial spent training and evaluating (its own wall_s) and slots the trials that can run at once
  (2 on 2 cores). It counts Ray start, actor start-up, data loading, checkpoint I/O and idle slots.
- trial start latency = time from a trial's first start to its first report, minus the compute it reported.
- best validation loss reached against total budget used (epochs summed over all trials), per algorithm and
  seed, compared at the smallest total budget any run used: a table, and a plot (bench_sweep.png).
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def demo_figures(root: Path, samples: int, words: int):
    from sweep.demo import run_demo
    from sweep.table import read_history, read_table

    t0 = time.perf_counter()
    exp = run_demo(root=root / "data", storage=str(root / "runs"), samples=samples, words=words, log=lambda m: None,
                   verbose=0)
    wall = time.perf_counter() - t0
    table, history = read_table(exp / "results.csv"), read_history(exp / "history.csv")
    compute = table["wall_s"].sum()
    slots = 2
    first = history.groupby("trial_id").first()
    latency = (first["time"] - table.set_index("trial_id")["started_at"] - first["wall_s"]).dropna()
    print(f"demo: {len(table)} trials, {wall:.0f} s wall (data generation and preparation included)")
    print(f"  summed trial compute {compute:.0f} s over {slots} slots -> orchestration overhead "
          f"{1 - compute / (wall * slots):.1%}   [target <= 15%]")
    print(f"  trial start latency: median {latency.median():.1f} s, max {latency.max():.1f} s")
    return exp


def budget_curve(exp: Path) -> pd.DataFrame:
    """Best validation loss so far against total epochs used, in the order reports arrived."""
    from sweep.table import read_history

    h = read_history(exp / "history.csv").sort_values("time")
    used, last = [], {}
    total = 0.0
    for tid, epoch in zip(h["trial_id"], h["epoch"]):
        total += epoch - last.get(tid, 0.0)  # a re-run report after a resume would not add budget twice
        last[tid] = max(epoch, last.get(tid, 0.0))
        used.append(total)
    h["budget"] = used
    h["best"] = h["val_loss"].cummin()
    return h[["budget", "best"]]


def compare(root: Path, samples: int, seeds, data: Path):
    from search_spaces.loader import SPACES_DIR
    from sweep.launch import SweepSpec, launch

    curves = {}
    for algo in ("bohb", "asha", "random"):
        for seed in seeds:
            t0 = time.perf_counter()
            exp = launch(SweepSpec(space=str(SPACES_DIR / "tiny_demo.yaml"), data=str(data), algo=algo,
                                   samples=samples, seed=seed, name=f"{algo}-{seed}", storage=str(root / "runs")),
                         overwrite=True, verbose=0)
            curves[algo, seed] = budget_curve(exp)
            c = curves[algo, seed]
            print(f"  {algo:<6} seed {seed}: {c['budget'].iloc[-1]:5.0f} epochs used, best val_loss "
                  f"{c['best'].iloc[-1]:.4f}, {time.perf_counter() - t0:.0f} s")
    common = min(c["budget"].iloc[-1] for c in curves.values())
    rows = []
    for (algo, seed), c in curves.items():
        at = c[c["budget"] <= common + 1e-9]["best"]
        rows.append({"algo": algo, "seed": seed, "best_at_common_budget": at.iloc[-1] if len(at) else np.nan,
                     "total_budget": c["budget"].iloc[-1], "best_overall": c["best"].iloc[-1]})
    df = pd.DataFrame(rows)
    summary = df.groupby("algo").agg(mean_best=("best_at_common_budget", "mean"),
                                     std_best=("best_at_common_budget", "std"),
                                     mean_total_budget=("total_budget", "mean"))
    print(f"\nbest validation loss at the common budget of {common:.0f} epochs (mean ± std over seeds {list(seeds)}):")
    print(summary.to_string(float_format=lambda v: f"{v:.4f}"))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    colors = {"bohb": "C0", "asha": "C1", "random": "C2"}
    for (algo, seed), c in curves.items():
        ax.step(c["budget"], c["best"], where="post", color=colors[algo], alpha=0.8,
                label=algo if seed == seeds[0] else None)
    ax.axvline(common, color="grey", ls=":", lw=1)
    ax.set_xlabel("total budget used (epochs, all trials)")
    ax.set_ylabel("best validation loss so far")
    ax.set_title(f"tiny demo space, {samples} trials per sweep, {len(seeds)} seeds")
    ax.legend()
    fig.tight_layout()
    out = REPO / "benchmarks" / "bench_sweep.png"
    fig.savefig(out, dpi=120)
    print(f"plot: {out}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--words", type=int, default=100_000)
    p.add_argument("--compare-samples", type=int, default=12)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--skip-compare", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        exp = demo_figures(root, args.samples, args.words)
        if not args.skip_compare:
            data = next((root / "data").glob("prepared-*"))
            print(f"\nBOHB vs ASHA vs random, {args.compare_samples} trials each, same priors and budget:")
            compare(root, args.compare_samples, args.seeds, data)


if __name__ == "__main__":
    main()
