"""The one-at-a-time curves of a scan (`babysweep launch --algo scan`, sweep/scan.py): for each parameter, the
metric of each run that varied it, with the others at the centre, and the centre run itself. Pure functions of a
results table, and a plot."""
import math
from numbers import Number

import pandas as pd

from sweep.display import fmt

CENTRE = "scan:centre"


def scan_curves(table: pd.DataFrame, metric="val_loss") -> dict[str, list[tuple]]:
    """{parameter: [(value, metric), ...] sorted by value (choices in table order)}, the centre run in every curve."""
    if "source_trial_id" not in table or metric not in table:
        return {}
    source = table["source_trial_id"].astype(str)
    centre = table[source == CENTRE]
    curves = {}
    for src, row in zip(source, table.to_dict("records")):
        if src.startswith("scan:") and src != CENTRE:
            name = src[len("scan:"):].split("=", 1)[0]
            curves.setdefault(name, []).append((row.get(f"config/{name}"), row.get(metric)))
    for name, points in curves.items():
        if len(centre):
            points.append((centre.iloc[0].get(f"config/{name}"), centre.iloc[0].get(metric)))
        if all(isinstance(v, Number) for v, _ in points):
            points.sort(key=lambda p: p[0])
    return curves


def format_curves(curves: dict, metric="val_loss") -> list[str]:
    lines = [f"one-at-a-time scan ({metric} at each value, the others at the centre):"]
    for name, points in curves.items():
        lines.append(f"  {name}: " + ", ".join(f"{fmt(v, missing='-')} → {fmt(m, missing='-')}" for v, m in points))
    return lines


def markdown_table(curves: dict, metric="val_loss", centre=None) -> str:
    """scan.md's table: one row per point (parameter, value, the metric), the centre's rows marked."""
    centre = centre or {}
    lines = [f"| parameter | value | {metric} | |", "|---|---:|---:|---|"]
    for name, points in curves.items():
        for value, result in points:
            mark = "centre" if name in centre and value == centre[name] else ""
            lines.append(f"| {name} | {fmt(value, missing='-')} | {fmt(result, missing='-')} | {mark} |")
    return "\n".join(lines)


def plot_curves(curves: dict, metric="val_loss", log_params=(), centre=None):
    """One panel per parameter: the metric against the parameter's value, on a log axis for a parameter whose
    prior is log-scaled (`log_params`; without it, for positive spreads > 10x), the centre run's point marked;
    tick labels rotated so that they do not run into each other."""
    from matplotlib.figure import Figure

    centre = centre or {}
    starred = None  # the panel whose star carries the legend entry
    cols = min(4, max(1, len(curves)))
    rows = math.ceil(max(1, len(curves)) / cols)
    fig = Figure(figsize=(3.2 * cols, 3.0 * rows))
    for i, (name, points) in enumerate(curves.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        numeric = all(isinstance(x, Number) for x in xs)
        at = list(range(len(xs))) if not numeric else xs
        ax.plot(at, ys, "o-")
        if name in centre and centre[name] in xs:
            j = xs.index(centre[name])
            ax.plot([at[j]], [ys[j]], marker="*", ms=13, color="C3", ls="none", zorder=3,
                    label=None if starred else "centre")
            starred = starred or ax
        if not numeric:
            ax.set_xticks(range(len(xs)), [str(x) for x in xs])
        elif min(xs) > 0 and (name in log_params or (not log_params and max(xs) / min(xs) > 10)):
            ax.set_xscale("log")
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        ax.set_xlabel(name + (" (log scale)" if ax.get_xscale() == "log" else ""))
        ax.set_ylabel(metric if i % cols == 0 else "")
    if starred:
        starred.legend(fontsize=8)
    fig.tight_layout()
    return fig
