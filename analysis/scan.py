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




def plot_curves(curves: dict, metric="val_loss"):
    """One panel per parameter: the metric against the parameter's value (log x for positive spreads > 10x)."""
    from matplotlib.figure import Figure

    cols = min(4, max(1, len(curves)))
    rows = math.ceil(max(1, len(curves)) / cols)
    fig = Figure(figsize=(3.2 * cols, 2.8 * rows))
    for i, (name, points) in enumerate(curves.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        numeric = all(isinstance(x, Number) for x in xs)
        ax.plot(range(len(xs)) if not numeric else xs, ys, "o-")
        if not numeric:
            ax.set_xticks(range(len(xs)), [str(x) for x in xs])
        elif min(xs) > 0 and max(xs) / min(xs) > 10:
            ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel(metric if i % cols == 0 else "")
    fig.tight_layout()
    return fig
