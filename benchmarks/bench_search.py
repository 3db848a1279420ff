"""Sample efficiency of the searchers on multi-fidelity test functions: babysweep's bohb, asha and random at an equal
total budget, and hpbandster's own BOHB run directly (no Ray) as the reference.

    python benchmarks/bench_search.py                              # every synthetic space, 5 seeds
    python benchmarks/bench_search.py --spaces hartmann6_informative --seeds 5 --samples 60

For each space in search_spaces/synthetic/ (a test function of trainables/synthetic.py, budget 1..27 epochs,
eta 3) and each seed:
- babysweep bohb and asha with --samples trials; random search with as many full-budget trials as fit in the total
  budget bohb used (equal budget);
- hpbandster's BOHB (same eta, min and max budget, the same priors' ConfigSpace) for as many iterations as its
  total budget needs to match bohb's. hpbandster evaluates a configuration afresh at each budget, so a run at 9
  epochs costs 9; babysweep's trials continue from their checkpoint, so the same promotion costs 9 - 3 = 6.
The anytime curve of a run is the best value seen at the full budget against the cumulative budget (epochs summed
over all trials). Prints, per space and method, the median [quartiles] over seeds of the final regret at equal
budget, and the budget each method needs to reach random search's final best (median over seeds; "never" counted);
writes bench_search.png (median and quartiles of the anytime curves) and bench_search.csv.
"""
import argparse
import logging
import math
import os
import tempfile
import threading
from pathlib import Path

import numpy as np
import pandas as pd

# hpbandster's workers talk through Pyro4, whose default serializer cannot carry the numpy floats ConfigSpace gives:
# the jobs never reach the worker. Pickle can (loopback only, our own processes). Read when Pyro4 is imported.
os.environ.setdefault("PYRO_SERIALIZER", "pickle")
os.environ.setdefault("PYRO_SERIALIZERS_ACCEPTED", "pickle")

REPO = Path(__file__).resolve().parents[1]
SPACES = REPO / "search_spaces" / "synthetic"


def anytime(events, budget_max):
    """[(cumulative budget, best full-budget value so far)] from (cost, budget reached, value) events in order."""
    spent, best, curve = 0.0, math.inf, []
    for cost, budget, value in events:
        spent += cost
        if budget >= budget_max - 1e-9 and value < best:
            best = value
        curve.append((spent, best))
    return curve


def babysweep_events(exp: Path):
    """(cost, epoch, val_loss) per report of a babysweep experiment, in the order they came (history.csv)."""
    history = pd.read_csv(exp / "history.csv", dtype={"trial_id": str}).sort_values("time", kind="stable")
    last, events = {}, []
    for tid, epoch, value in zip(history["trial_id"], history["epoch"], history["val_loss"]):
        events.append((epoch - last.get(tid, 0.0), epoch, value))
        last[tid] = epoch
    return events


def run_babysweep(space_file, algo, samples, seed, storage):
    from sweep.launch import SweepSpec, launch

    exp = launch(SweepSpec(space=str(space_file), algo=algo, samples=samples, seed=seed, name=f"{algo}-{seed}",
                           storage=str(storage), cpus_per_trial=1.0), verbose=0)
    return babysweep_events(exp)


def run_hpbandster(space_file, seed, budget_total, workdir):
    """hpbandster's BOHB on the space's trainable, each evaluation a local run to the budget (no Ray)."""
    import hpbandster.core.nameserver as hpns
    from hpbandster.core.worker import Worker
    from hpbandster.optimizers import BOHB

    from search_spaces.loader import load_space
    from sweep.kinds import resolve_trainable
    from trainables.reporting import run_local

    space = load_space(space_file)
    trainable = resolve_trainable(space.trainable)
    events, lock = [], threading.Lock()

    class Evaluate(Worker):
        def compute(self, config, budget, **kwargs):
            run = run_local(trainable, space.to_trainable_config(config), tempfile.mkdtemp(dir=workdir),
                            stop_after=int(round(budget)))
            value = run.results[-1]["val_loss"]
            with lock:
                events.append((budget, budget, value))
            return {"loss": value, "info": {}}

    np.random.seed(seed)
    run_id = f"bench-{seed}"
    nameserver = hpns.NameServer(run_id=run_id, host="127.0.0.1", port=None)
    host, port = nameserver.start()
    worker = Evaluate(run_id=run_id, nameserver=host, nameserver_port=port)
    worker.run(background=True)
    bohb = BOHB(configspace=space.to_configspace(seed=seed), run_id=run_id, nameserver=host, nameserver_port=port,
                min_budget=space.budget_min, max_budget=space.budget_max, eta=3)
    try:
        iterations = 1
        while sum(e[0] for e in events) < budget_total:
            bohb.run(n_iterations=iterations)  # hpbandster continues where it stopped, one bracket more each time
            iterations += 1
    finally:
        bohb.shutdown(shutdown_workers=True)
        nameserver.shutdown()
    return events


def needed(curve, target):
    """The budget at which a curve first reaches `target` (None: never)."""
    return next((spent for spent, best in curve if best <= target + 1e-12), None)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spaces", nargs="+", help="names in search_spaces/synthetic (default: all)")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--samples", type=int, default=60, help="trials of babysweep bohb and asha (default 60)")
    p.add_argument("--methods", nargs="+", default=["bohb", "asha", "random", "hpbandster"])
    p.add_argument("--out", default=str(REPO / "benchmarks" / "bench_search"))
    args = p.parse_args()
    logging.disable(logging.INFO)  # hpbandster and Pyro log every job at INFO/DEBUG

    from search_spaces.loader import load_space
    from sweep.runtime import ray_session
    from trainables.synthetic import GLOBAL_MINIMUM

    optima = {"hartmann6": GLOBAL_MINIMUM, "hartmann6_misleading": GLOBAL_MINIMUM, "counting_ones": -16.0}

    names = args.spaces or sorted(f.stem for f in SPACES.glob("*.yaml"))
    rows, curves = [], {}
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp, ray_session():
        for name in names:
            space_file = SPACES / f"{name}.yaml"
            space = load_space(space_file)
            optimum = optima[name]
            for seed in range(args.seeds):
                runs = {}
                storage = Path(tmp) / name / str(seed)
                if "bohb" in args.methods:
                    runs["bohb"] = run_babysweep(space_file, "bohb", args.samples, seed, storage)
                total = sum(e[0] for e in runs.get("bohb", [])) or args.samples * space.budget_max / 3
                if "asha" in args.methods:
                    runs["asha"] = run_babysweep(space_file, "asha", args.samples, seed, storage)
                if "random" in args.methods:
                    n = max(1, int(total // space.budget_max))  # equal budget: full-budget trials that fit
                    runs["random"] = run_babysweep(space_file, "random", n, seed, storage)
                if "hpbandster" in args.methods:
                    runs["hpbandster"] = run_hpbandster(space_file, seed, total, tmp)
                for method, events in runs.items():
                    curve = anytime(events, space.budget_max)
                    curves.setdefault((name, method), []).append(curve)
                    final = [best for spent, best in curve if spent <= total + 1e-9]
                    rows.append({"space": name, "method": method, "seed": seed, "budget": total,
                                 "final_regret": (final[-1] if final else math.inf) - optimum, "curve": curve})
                random_best = rows[-len(runs):][list(runs).index("random")]["final_regret"] + optimum \
                    if "random" in runs else None
                for row in rows[-len(runs):]:
                    row["to_random_best"] = needed(row["curve"], random_best) if random_best is not None else None
                print(f"{name} seed {seed}: " + ", ".join(f"{r['method']} regret {r['final_regret']:.3f}"
                                                          for r in rows[-len(runs):]), flush=True)
    report(pd.DataFrame(rows), curves, args.out)


def report(df, curves, out):
    lines = ["| space | method | final regret at equal budget, median [q25, q75] | budget to reach random's final "
             "best, median (never) | as a share of random's budget |", "|---|---|---|---|---|"]
    for (space, method), g in df.groupby(["space", "method"], sort=False):
        q = g["final_regret"].quantile([0.25, 0.5, 0.75]).to_numpy()
        reached = g["to_random_best"].dropna()
        never = len(g) - len(reached)
        med = float(np.median(list(reached) + [math.inf] * never)) if len(g) else math.inf
        share = med / g["budget"].median() if math.isfinite(med) else math.inf
        lines.append(f"| {space} | {method} | {q[1]:.3f} [{q[0]:.3f}, {q[2]:.3f}] | "
                     f"{'never' if not math.isfinite(med) else f'{med:.0f}'} ({never}) | {share:.2f} |")
    print("\n".join(lines))
    df.drop(columns="curve").to_csv(f"{out}.csv", index=False)
    Path(f"{out}.md").write_text("\n".join(lines) + "\n")
    plot(curves, f"{out}.png")


def plot(curves, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spaces = sorted({s for s, _ in curves})
    fig, axes = plt.subplots(1, len(spaces), figsize=(5 * len(spaces), 4), squeeze=False)
    for ax, space in zip(axes[0], spaces):
        for method in [m for s, m in curves if s == space]:
            runs = curves[(space, method)]
            grid = np.linspace(0, max(c[-1][0] for c in runs), 200)
            values = np.array([[min([b for s, b in c if s <= x] or [math.inf]) for x in grid] for c in runs])
            values[~np.isfinite(values)] = np.nan
            ax.plot(grid, np.nanmedian(values, axis=0), label=method)
            ax.fill_between(grid, np.nanpercentile(values, 25, axis=0), np.nanpercentile(values, 75, axis=0),
                            alpha=0.2)
        ax.set_title(space)
        ax.set_xlabel("cumulative budget (epochs)")
        ax.set_ylabel("best value at the full budget")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
