"""The report's figures: the anytime curve, every trial's curve against epoch with the rungs, and the sweep's metric
against each searched hyperparameter over its prior; each drawn from the experiment's files, as PNG and PDF bytes.

Every figure is in the space's metric and mode (val_loss, min, for pretraining; a fine-tuning space's score, max:
the anytime curve is then the running maximum), and its axes name it (`metric_label`). A history written before
babysweep recorded the space's metric there has val_loss only: its curves are of val_loss, and say so."""
import io
import math

import numpy as np
import pandas as pd

from sweep.rungs import asha_rungs, bracket_rungs  # noqa: F401  (bracket_rungs: also imported from analysis.report)
from sweep.selection import ranked_column

from .common import EPS, KIND_NAMES, LOG_SCALED, epochs, fmt


def anytime_curve(history: pd.DataFrame, metric="val_loss", mode="min") -> pd.DataFrame:
    """Best metric so far against the total epochs all trials have used, in the order the reports arrived
    (benchmarks/bench_sweep.py's budget_curve): columns budget, best, trial_id, value."""
    if history.empty or metric not in history:
        return pd.DataFrame(columns=["budget", "best", "trial_id", "value"])
    h = history.sort_values("time", kind="mergesort") if "time" in history else history
    used, last, total = [], {}, 0.0
    for tid, epoch in zip(h["trial_id"], pd.to_numeric(h["epoch"], errors="coerce")):
        if not math.isfinite(epoch):
            used.append(total)
            continue
        total += max(0.0, epoch - last.get(tid, 0.0))  # an epoch reported again after a resume adds nothing
        last[tid] = max(epoch, last.get(tid, 0.0))
        used.append(total)
    value = pd.to_numeric(h[metric], errors="coerce").where(lambda v: np.isfinite(v))
    best = value.cummin() if mode == "min" else value.cummax()
    return pd.DataFrame({"budget": used, "best": best.to_numpy(), "trial_id": h["trial_id"].to_numpy(),
                         "value": value.to_numpy()})


def metric_label(metric: str) -> str:
    """The metric as an axis or a title names it: "validation loss" for val_loss, else its own name."""
    return "validation loss" if metric == "val_loss" else metric


def budget_reached(exp) -> pd.Series:
    """Each trial's last epoch: the table's, else its history's."""
    table = exp.table
    reached = (pd.to_numeric(table.set_index("trial_id")["epoch"], errors="coerce") if len(table)
               else pd.Series(dtype=float))
    if not exp.history.empty:
        hist = exp.history.groupby("trial_id")["epoch"].max()
        reached = reached.combine_first(hist) if len(reached) else hist
    return reached


# ------------------------------------------------------------------------------------------------ colours

class Colours:
    """Trial -> (colour, group label): by bracket when the table has a `bracket` column with values, otherwise by
    the budget each trial reached (the rung it was stopped at, or the end of its schedule)."""

    def __init__(self, exp):
        table = exp.table
        budget_max = exp.space.budget_max
        if "bracket" in table and table["bracket"].notna().any():
            self.by = "bracket"
            groups = table.set_index("trial_id")["bracket"]
            levels = sorted(groups.dropna().unique(), key=str)
            label = {lvl: f"bracket {fmt(lvl)}" for lvl in levels}
        else:
            self.by = "budget reached"
            reached = budget_reached(exp).round(6)
            groups = reached
            levels = sorted(reached.dropna().unique())
            label = {lvl: (f"reached {epochs(lvl)} (the maximum)" if lvl >= budget_max - EPS
                           else f"stopped at {epochs(lvl)}") for lvl in levels}
        from matplotlib import colormaps

        cmap = colormaps["plasma"]
        spots = np.linspace(0.72, 0.0, len(levels)) if len(levels) > 1 else [0.0]
        self.colour_of_level = {lvl: cmap(float(x)) for lvl, x in zip(levels, spots)}
        self.label_of_level = label
        self.level = {str(k): v for k, v in groups.items()}

    def colour(self, trial_id):
        lvl = self.level.get(str(trial_id))
        return self.colour_of_level.get(lvl, "grey")

    def legend_handles(self):
        from matplotlib.lines import Line2D

        return [Line2D([], [], color=c, marker="o", lw=1.5, label=self.label_of_level[lvl])
                for lvl, c in self.colour_of_level.items()]


# ------------------------------------------------------------------------------------------------ figures

def _figure(width, height, layout="constrained"):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout=layout)


# The figures' margins, in inches: their axes are all alike (title above, tick labels and x label below, tick labels
# and y label left), so a fixed layout fits them, and drawing it costs half what constrained layout's measuring does
GRID_CELL = (4.0, 3.2)  # width, height of one cell
GRID_MARGINS = dict(left=0.75, right=0.15, top=0.35, gap_x=0.65, gap_y=0.95, bottom=0.6, legend=0.6)


def _axes_figure(width, height):
    """One axes with the grid's margins (its title above, its labels left and below), and room on the right for the
    label of a rung at the last epoch."""
    m = GRID_MARGINS
    fig = _figure(width, height, layout=None)
    fig.subplots_adjust(left=m["left"] / width, right=1 - 0.45 / width, top=1 - m["top"] / height,
                        bottom=m["bottom"] / height)
    return fig


def _grid_figure(rows, cols):
    m, (w, h) = GRID_MARGINS, GRID_CELL
    width, height = w * cols, h * rows + m["legend"]
    axis_w = (width - m["left"] - m["right"] - m["gap_x"] * (cols - 1)) / cols
    axis_h = (height - m["top"] - m["legend"] - m["bottom"] - m["gap_y"] * (rows - 1)) / rows
    fig = _figure(width, height, layout=None)
    fig.subplots_adjust(left=m["left"] / width, right=1 - m["right"] / width, top=1 - m["top"] / height,
                        bottom=(m["legend"] + m["bottom"]) / height, wspace=m["gap_x"] / axis_w,
                        hspace=m["gap_y"] / axis_h)
    return fig


def plot_anytime(exp, compare_with=None):
    fig = _axes_figure(7.0, 4.0)
    ax = fig.add_subplot()
    curves = [(exp, "C0")] + ([(compare_with, "C1")] if compare_with is not None else [])
    ends = []
    metric, mode = exp.history_metric()
    for e, colour in curves:
        c = anytime_curve(e.history, *e.history_metric()).dropna(subset=["best"])
        if c.empty:
            continue
        label = f"{e.name} ({e.record.get('algo', e.kind)}): best {fmt(c['best'].iloc[-1])}"
        ax.step(c["budget"], c["best"], where="post", color=colour, lw=2, label=label)
        ax.scatter(c["budget"], c["value"], s=10, color=colour, alpha=0.35, edgecolors="none")
        ends.append(c["budget"].iloc[-1])
    if len(ends) == 2:
        ax.axvline(min(ends), color="grey", ls=":", lw=1, label=f"common budget ({fmt(min(ends))} epochs)")
    label = metric_label(metric)
    ax.set_xlabel("cumulative budget used (epochs, summed over all trials)")
    ax.set_ylabel(f"best {label} so far ({'highest' if mode == 'max' else 'lowest'})")
    ax.set_title(f"Anytime performance: best {label} against budget")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_trials(exp, colours: Colours, rungs):
    fig = _axes_figure(7.0, 4.2)
    ax = fig.add_subplot()
    history = exp.history
    metric, _ = exp.history_metric()
    best = exp.best_trial()
    best_id = None if best is None else str(best["trial_id"])
    values = []
    for tid, h in history.groupby("trial_id", sort=False):
        h = h.sort_values("epoch")
        y = pd.to_numeric(h[metric], errors="coerce").where(lambda v: np.isfinite(v))
        values += list(y.dropna())
        ax.plot(h["epoch"], y, marker="o", ms=3, lw=1.2, alpha=0.8, color=colours.colour(tid))
        if str(tid) == best_id:
            ax.plot(h["epoch"], y, lw=3, color="black", alpha=0.5, zorder=1)
    for i, r in enumerate(rungs):
        ax.axvline(r, color="grey", ls="--", lw=0.9, zorder=0)
        ax.annotate(f"rung {fmt(r)}", (r, 1), xycoords=("data", "axes fraction"), xytext=(2, -10),
                    textcoords="offset points", fontsize=7, color="grey")
    if values:
        lo, hi = min(values), max(values)
        pad = 0.05 * (hi - lo or 1.0)
        ax.set_ylim(lo - pad, hi + pad)
    handles = colours.legend_handles()
    if best_id is not None:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], color="black", lw=3, alpha=0.5, label=f"best trial ({best_id})"))
    ax.legend(handles=handles, fontsize=8, title=f"coloured by {colours.by}", title_fontsize=8)
    ax.set_xlabel("epoch (budget)")
    ax.set_ylabel(metric_label(metric))
    ax.set_title(f"Every trial's {metric_label(metric)} ({history['trial_id'].nunique()} trials)")
    ax.grid(alpha=0.3)
    return fig


def _norm_cdf(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def prior_density(p):
    """The prior of one searched parameter, in the trainable's units, for shading: ("continuous", x, density) with
    the density of ln x for log-scaled priors (what a log axis shows), of x otherwise; or ("discrete", values,
    probabilities) for int_uniform and choice."""
    if p.kind in ("log_normal", "q_log_normal"):
        z = np.linspace(p.lower, p.upper, 400)
        mass = _norm_cdf((p.upper - p.mu) / p.sigma) - _norm_cdf((p.lower - p.mu) / p.sigma)
        dens = np.exp(-0.5 * ((z - p.mu) / p.sigma) ** 2) / (p.sigma * math.sqrt(2 * math.pi)) / mass
        return "continuous", np.exp(z), dens
    if p.kind in ("log_uniform", "q_log_uniform"):
        lo, hi = (p.lower, p.upper) if p.kind == "q_log_uniform" else (math.log(p.lower), math.log(p.upper))
        z = np.array([lo, lo, hi, hi])
        return "continuous", np.exp(z), np.array([0.0, 1.0, 1.0, 0.0]) / (hi - lo)
    if p.kind == "uniform":
        lo, hi = p.lower, p.upper
        return "continuous", np.array([lo, lo, hi, hi]), np.array([0.0, 1.0, 1.0, 0.0]) / (hi - lo)
    if p.kind == "int_uniform":
        values = np.arange(int(p.lower), int(p.upper) + 1)
        return "discrete", values, np.full(len(values), 1.0 / len(values))
    return "discrete", list(p.args), np.full(len(p.args), 1.0 / len(p.args))


def describe_prior(p) -> str:
    """One line, in the trainable's units."""
    if p.kind in ("log_normal", "q_log_normal"):
        q = f", q = {p.q}" if p.kind == "q_log_normal" else ""
        return (f"{KIND_NAMES[p.kind]}: median {fmt(p.centre())}, range {fmt(math.exp(p.lower))} to "
                f"{fmt(math.exp(p.upper))} (ln x ~ Normal(mu = {fmt(p.mu)}, sigma = {fmt(p.sigma)}){q})")
    if p.kind == "q_log_uniform":
        return f"{KIND_NAMES[p.kind]}: {fmt(math.exp(p.lower))} to {fmt(math.exp(p.upper))}, q = {p.q}"
    if p.kind == "choice":
        return f"{KIND_NAMES[p.kind]}: {', '.join(map(str, p.args))}"
    return f"{KIND_NAMES[p.kind]}: {fmt(p.lower)} to {fmt(p.upper)}"


def plot_hyperparameters(exp, colours: Colours):
    """Each trial's value of the sweep's metric (the one it is ranked by: final, or its kept model's) against each
    searched hyperparameter, the prior shaded on a twin axis."""
    params = list(exp.space.params.values())
    cols = min(3, len(params))
    rows = math.ceil(len(params) / cols)
    fig = _grid_figure(rows, cols)
    table = exp.table
    metric = exp.metric
    # what each trial is ranked by: its final value, or its kept model's with keep=best (sweep/selection.py)
    y = pd.to_numeric(ranked_column(table, metric, exp.keep), errors="coerce") if metric in table \
        else pd.Series(np.nan, table.index)
    ok = np.isfinite(y.to_numpy(dtype=float))
    tids = table["trial_id"].astype(str).to_numpy()
    rng = np.random.default_rng(0)
    for i, p in enumerate(params):
        ax = fig.add_subplot(rows, cols, i + 1)
        twin = ax.twinx()
        column = f"config/{p.name}"
        x = table[column] if column in table else pd.Series([None] * len(table), index=table.index)
        shape, px, dens = prior_density(p)
        if shape == "continuous":
            twin.fill_between(px, dens, color="grey", alpha=0.18, lw=0, step=None)
            twin.plot(px, dens, color="grey", lw=0.8, alpha=0.6)
            xs = pd.to_numeric(x, errors="coerce").to_numpy(dtype=float)
        else:
            labels = [str(v) for v in px]
            pos = {lab: j for j, lab in enumerate(labels)}
            if p.kind == "int_uniform":
                twin.bar(px, dens, width=0.8, color="grey", alpha=0.18)
                xs = pd.to_numeric(x, errors="coerce").to_numpy(dtype=float)
            else:
                twin.bar(range(len(labels)), dens, width=0.6, color="grey", alpha=0.18)
                xs = np.array([pos.get(str(v), np.nan) for v in x], dtype=float)
                xs = xs + rng.uniform(-0.15, 0.15, len(xs))
                ax.set_xticks(range(len(labels)), labels, rotation=20 if len(labels) > 3 else 0)
                ax.set_xlim(-0.6, len(labels) - 0.4)
        keep = ok & np.isfinite(xs)
        ax.scatter(xs[keep], y.to_numpy(dtype=float)[keep], s=22, c=[colours.colour(t) for t in tids[keep]],
                   edgecolors="black", linewidths=0.3, zorder=3)
        if p.kind in LOG_SCALED:
            ax.set_xscale("log")
        twin.set_ylim(0, (max(dens) if len(dens) else 1.0) * 1.15)
        twin.set_yticks([])
        ax.set_zorder(twin.get_zorder() + 1)
        ax.patch.set_visible(False)
        ax.set_xlabel(p.name + (" (log scale)" if p.kind in LOG_SCALED else ""))
        if i % cols == 0:
            ax.set_ylabel(f"{'kept model' if exp.keep == 'best' else 'final'} {metric_label(metric)}")
        ax.grid(alpha=0.25)
        left_out = int(len(keep) - keep.sum())
        ax.set_title(p.name + (f" ({left_out} without a value)" if left_out else ""), fontsize=9)
    fig.legend(handles=colours.legend_handles(), loc="lower center", bbox_to_anchor=(0.5, 0.02),
               ncols=min(4, len(colours.colour_of_level) or 1),
               fontsize=8, title=f"trials coloured by {colours.by}; grey: the prior's density", title_fontsize=8)
    return fig


def figure_bytes(fig, fmt_="png") -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt_, dpi=110 if fmt_ == "png" else None)
    return buf.getvalue()


