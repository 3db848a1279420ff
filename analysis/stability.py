"""`babysweep analyze stability`: were the sweep's best configurations luck?

For each re-run configuration: the original trial's loss, the re-seeded losses (mean ± std, min-max), the gap
(re-seeded mean - original, in loss and in re-seeded standard deviations), a verdict, the Spearman rank
correlation between the original ranking and the re-seeded means, and a plot. The same for every suite score
the re-runs have been evaluated on (`babysweep evaluate <name>-rerun`: BLiMP, EWoK, the built-in pairs, ...; found
by `sweep.table.suite_columns`). Pure functions on the two results tables.
"""
import math

import numpy as np
import pandas as pd

from sweep.table import suite_columns
from trainables.files import atomic_path, write_csv, write_text

from . import provenance
from .errors import AnalysisError

BASELINE = "baseline"
# (column, label, lower is better): the metrics of BabyLM's suites; `metrics_for(table)` takes every suite a
# re-run table has
METRICS = [("val_loss", "validation loss", True), ("blimp_filtered", "BLiMP filtered", False),
           ("blimp_supplement", "BLiMP supplement", False)]


def metrics_for(rerun: pd.DataFrame) -> list:
    """(column, label, lower is better): validation loss, then every suite score of the re-run table."""
    from .correlate import SUITE_LABELS

    return [METRICS[0]] + [(s, SUITE_LABELS.get(s, s), False) for s in suite_columns(rerun.columns)]


def verdict_rule(z: float) -> str:
    return (f"regressed when the re-seeded mean is worse than the original by more than {z:g} re-seeded standard "
            f"deviations; stable otherwise")


def stability_table(source: pd.DataFrame, rerun: pd.DataFrame, metric="val_loss", lower_is_better=True, z=2.0):
    """One row per source configuration (and the baseline, which has no original)."""
    if metric not in rerun.columns or rerun[metric].notna().sum() == 0:
        return pd.DataFrame()
    originals = source.set_index("trial_id")[metric] if metric in source.columns else pd.Series(dtype=float)
    rows = []
    for src, group in rerun.groupby("source_trial_id", sort=False):
        values = group[metric].dropna().to_numpy(dtype=float)
        if len(values) == 0:
            continue
        original = float(originals.get(src, np.nan)) if src != BASELINE else np.nan
        mean, std = values.mean(), values.std(ddof=1) if len(values) > 1 else np.nan
        worse = (mean - original) if lower_is_better else (original - mean)  # > 0: the re-runs do worse
        in_std = worse / std if std and std > 0 else (math.inf if worse > 0 else -math.inf if worse < 0 else 0.0)
        verdict = "-" if math.isnan(original) else ("regressed" if in_std > z else "stable")
        rows.append({"source_trial_id": src, "original": original, "n_seeds": len(values), "mean": mean, "std": std,
                     "min": values.min(), "max": values.max(), "gap": worse, "gap_in_std": in_std,
                     "verdict": verdict, "values": values.tolist()})
    df = pd.DataFrame(rows)
    # Originals first, in the sweep's order (best first), the baseline last
    order = df["original"].rank(ascending=lower_is_better, method="first").fillna(len(df) + 1)
    return df.assign(_o=order).sort_values("_o").drop(columns="_o").reset_index(drop=True)


EXACT_UP_TO = 10  # every permutation up to here (10! = 3.6M: under a second); above it scipy's t approximation


def spearman(x, y) -> tuple[float, float, str]:
    """(rho, two-sided p, how p was had) of Spearman's rank correlation. At n <= EXACT_UP_TO the p-value is exact:
    the share of all n! pairings of the ranks whose |rho| is at least the observed one (the t approximation scipy
    uses gives p = 0 for rho = 1 at n = 3, where the exact p is 2/6 = 0.33)."""
    import itertools

    from scipy.stats import rankdata, spearmanr

    n = len(x)
    if n > EXACT_UP_TO:
        rho, p = spearmanr(x, y)
        return float(rho), float(p), "t approximation"
    rx, ry = rankdata(x) - (n + 1) / 2, rankdata(y) - (n + 1) / 2
    norm = math.sqrt(float(rx @ rx) * float(ry @ ry))
    if norm == 0:  # a constant ranking: no correlation to test
        return math.nan, math.nan, "exact permutation"
    rho = float(rx @ ry) / norm
    perms = np.fromiter(itertools.chain.from_iterable(itertools.permutations(range(n))), dtype=np.int8).reshape(-1, n)
    null = (ry[perms] @ rx) / norm
    p = float(np.mean(np.abs(null) >= abs(rho) - 1e-12))
    return rho, p, "exact permutation"


def rank_correlation(table: pd.DataFrame):
    """Spearman correlation between the original values and the re-seeded means (configurations with an original):
    (rho, "p = ..., n = ..., exact" or why there is none)."""
    t = table.dropna(subset=["original"])
    if len(t) < 3:
        return None, f"needs at least 3 configurations with an original, has {len(t)}"
    rho, p, how = spearman(t["original"].to_numpy(float), t["mean"].to_numpy(float))
    if rho != rho:
        return None, f"one of the two rankings is constant (n = {len(t)})"
    return rho, f"p = {p:.3g}, n = {len(t)}, {how}"


def _far_apart(table: pd.DataFrame, baseline: pd.Series) -> bool:
    """Whether the baseline's values would squash the configurations' on one axis: further from their range than
    the range is wide (seen: the Table 2 teacher at 6.19 nats beside configurations 0.02-0.05 nats apart)."""
    ours = np.concatenate([np.asarray(v, float) for v in table["values"]]
                          + [table["original"].dropna().to_numpy(float)])
    theirs = np.concatenate([np.asarray(v, float) for v in baseline["values"]])
    ours, theirs = ours[np.isfinite(ours)], theirs[np.isfinite(theirs)]
    if not ours.size or not theirs.size:
        return False
    lo, hi = ours.min(), ours.max()
    return max(lo - theirs.min(), theirs.max() - hi, 0.0) > max(hi - lo, 1e-12)


def _draw(ax, table: pd.DataFrame, legend: bool):
    for i, (_, row) in enumerate(table.iterrows()):
        ax.scatter(np.full(len(row["values"]), i), row["values"], color="C0", alpha=0.7,
                   label="re-seeded" if legend and i == 0 else None)
        ax.errorbar(i + 0.15, row["mean"], yerr=0 if math.isnan(row["std"]) else row["std"], fmt="_", color="C0",
                    capsize=4)
        if not math.isnan(row["original"]):
            ax.scatter(i, row["original"], marker="x", s=90, color="C3",
                       label="original (sweep)" if legend and i == 0 else None, zorder=3)
    ax.set_xticks(range(len(table)), table["source_trial_id"], rotation=30, ha="right")
    ax.set_xlim(-0.5, len(table) - 0.5)


def plot_stability(table: pd.DataFrame, label: str):
    """The re-seeded values of each configuration beside its original; the baseline on an axis of its own when
    its values are far from the configurations' (one axis would flatten their differences to nothing)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    is_base = table["source_trial_id"] == BASELINE
    configs, baseline = table[~is_base], table[is_base]
    apart = len(configs) > 0 and len(baseline) > 0 and _far_apart(configs, baseline)
    width = max(4.0, 1.1 * len(table) + 2)
    if not apart:
        fig, ax = plt.subplots(figsize=(width, 4))
        _draw(ax, table, legend=True)
        axes = [ax]
    else:
        fig, axes = plt.subplots(1, 2, figsize=(width + 1, 4), width_ratios=[len(configs), len(baseline)])
        _draw(axes[0], configs, legend=True)
        _draw(axes[1], baseline, legend=False)
        axes[1].set_title("own scale", fontsize=9)
    axes[0].set_xlabel("configuration (source trial)")
    axes[0].set_ylabel(label)
    fig.suptitle(f"{label}: sweep result vs re-trained with new seeds")
    axes[0].legend()
    fig.tight_layout()
    return fig


def to_markdown(table: pd.DataFrame, label: str) -> str:
    head = "| configuration | original | re-seeded mean ± std | min – max | gap | gap / std | verdict |\n|---|---|---|---|---|---|---|"
    lines = [head]
    for _, r in table.iterrows():
        orig = "-" if math.isnan(r["original"]) else f"{r['original']:.4f}"
        gap = "-" if math.isnan(r["gap"]) else f"{r['gap']:+.4f}"
        gstd = "-" if math.isnan(r["gap_in_std"]) else f"{r['gap_in_std']:+.1f}"
        std = "-" if math.isnan(r["std"]) else f"{r['std']:.4f}"
        lines.append(f"| {r['source_trial_id']} | {orig} | {r['mean']:.4f} ± {std} | {r['min']:.4f} – {r['max']:.4f} "
                     f"| {gap} | {gstd} | {r['verdict']} |")
    return f"### {label}\n\n" + "\n".join(lines)


def stability_report(source: pd.DataFrame, rerun: pd.DataFrame, out_dir, z=2.0):
    """Tables, rank correlations and plots for every metric the re-runs have; writes stability.md, stability.csv
    and stability_<metric>.png/.pdf into out_dir. Returns (markdown, {name: path})."""
    from pathlib import Path

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = [f"Verdict rule: {verdict_rule(z)}. Gap = re-seeded mean - original for losses, original - re-seeded "
             f"mean for scores: positive means the re-runs do worse."]
    csv_rows, paths = [], {}
    for metric, label, lower in metrics_for(rerun):
        table = stability_table(source, rerun, metric, lower, z)
        if table.empty:
            continue
        made = None
        if metric != "val_loss":  # originals and re-runs in one table: their scores made one way (provenance.py)
            both = pd.concat([source[[c for c in source.columns if c in rerun.columns]], rerun], ignore_index=True)
            try:
                made = provenance.check_one(both, metric, f"{label}, originals and re-runs")
            except AnalysisError as e:
                parts.append(f"### {label}\n\nnot compared: {e}")
                continue
            label = provenance.label(both, metric, label)
        rho, how = rank_correlation(table)
        parts.append(to_markdown(table, label) + (f"\n\nScores: {made}" if made else ""))
        parts.append("Spearman rank correlation, original vs re-seeded mean: "
                     + (f"{rho:+.2f} ({how})" if rho is not None else f"not computed ({how})"))
        fig = plot_stability(table, label)
        for ext in ("png", "pdf"):
            path = out_dir / f"stability_{metric}.{ext}"
            with atomic_path(path) as tmp:
                fig.savefig(tmp, dpi=120, format=ext)
            paths[path.name] = path
        csv_rows.append(table.drop(columns="values").assign(metric=metric, spearman=rho))
    if not csv_rows:
        raise AnalysisError("the re-run table has no finished re-runs with a validation loss yet")
    markdown = "\n\n".join(parts) + "\n"
    write_text(out_dir / "stability.md", markdown)
    paths["stability.md"] = out_dir / "stability.md"
    csv = out_dir / "stability.csv"
    write_csv(csv, pd.concat(csv_rows))
    paths[csv.name] = csv
    return markdown, paths
