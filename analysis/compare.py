"""Families of models side by side: Figure 1 and Table 3 of the BabyLlama-2 paper (section 6).

A *family* is a results table with one row per model: the teachers of one recipe trained with several seeds,
students distilled from 1, 2 or 3 teachers, direct ensembles, ... (`babysweep replicate`, any experiment). For
each family and each metric the comparison gives the mean ± standard deviation over its models (Table 3), and
draws one panel per metric with one violin per family, ticks at the mean and ±1 standard deviation (Figure 1).
Optionally a *sweep* is drawn as the distribution of all its models, its best trial (by validation loss) as a
cross, and *reference points* (published baselines, models of interest: {name: {metric: value}}) as markers.

Metrics, in the order of the panels: test loss, validation loss, BLiMP filtered, BLiMP supplement, the SuperGLUE
macro average, then every other suite score any table has (EWoK, the built-in pairs, a user's suite:
`sweep.table.suite_columns`). A metric no family has a value of is left out, with a note. Losses are in nats per
token; scores in % (the suites' columns hold fractions: they are multiplied by 100, as Table 3), and reference
values are read in those units.

The SuperGLUE macro average of a model is the column `superglue` (a fraction, like every suite column) when the
table has one; `attach_superglue` fills it from `babysweep finetune-all` runs kept in the experiment's folder
(`<experiment>/finetune/<trial_id>/finetune_all.csv`: the row `macro average`, in %).

Pure functions on tables (pandas DataFrames in the results-table format of DESIGN.md) apart from the readers
(`read_references`, `attach_superglue`) and `write_report`: they return numbers, a matplotlib figure (no pyplot:
no GUI, no global state) with a description of what it draws, and files.
"""
import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from sweep.table import FINISHED, parse_bool, suite_columns
from trainables.files import write_csv, write_text

from . import provenance
from .compare_inputs import (  # noqa: F401
    ALLOWED_MARKERS, FINETUNE_DIR, FINETUNE_TABLE, MACRO_AVERAGE, REFERENCE_MARKERS, SUPERGLUE, attach_superglue,
    read_references, superglue_macro_average)
from .correlate import AnalysisError, numeric
from .metrics import (  # noqa: F401
    BASE_METRICS, WHY_ABSENT, Metric, candidate_metrics, known_metric_names, metric_for)
from .output import output_folder, save_figure

FILES = ("compare.md", "compare.csv", "compare.png", "compare.pdf")


SWEEP_COLOR, BEST_COLOR = "0.55", "black"


# ---------------------------------------------------------------------------------------------------- selection

def select_models(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The models of a table that count: rows that finished (state TERMINATED, or no state given) and did not
    diverge. Returns them and notes on what was left out."""
    notes = []
    out = df
    if "state" in out.columns:
        state = out["state"]
        keep = state.isna() | (state.astype(str) == FINISHED)
        if (~keep).any():
            counts = state[~keep].astype(str).value_counts()
            notes.append(f"{int((~keep).sum())} unfinished row(s) left out ("
                         + ", ".join(f"{n} {s}" for s, n in counts.items()) + ")")
        out = out[keep.to_numpy(dtype=bool)]
    if "diverged" in out.columns:
        diverged = out["diverged"].map(parse_bool).to_numpy(dtype=bool)
        if diverged.any():
            notes.append(f"{int(diverged.sum())} diverged row(s) left out")
        out = out[~diverged]
    return out, notes


def values_of(df: pd.DataFrame, metric: Metric) -> np.ndarray:
    """The metric's finite values in the table, in display units (scores in %)."""
    if metric.column not in df.columns:
        return np.empty(0)
    v = numeric(df, metric.column)
    return v[np.isfinite(v)] * metric.scale


def summarize(values) -> dict:
    """n, mean, sd (sample standard deviation, n - 1; NaN for a single value), min, max."""
    v = np.asarray(values, dtype=float)
    n = int(v.size)
    if n == 0:
        return {"n": 0, "mean": math.nan, "sd": math.nan, "min": math.nan, "max": math.nan}
    return {"n": n, "mean": float(v.mean()), "sd": float(v.std(ddof=1)) if n > 1 else math.nan,
            "min": float(v.min()), "max": float(v.max())}


# ---------------------------------------------------------------------------------------------------- comparison

@dataclass
class Comparison:
    """What `compare` found: the metrics kept (panel order), each model group's values in display units, the
    sweep's best trial, the reference points, and notes (what was left out and why)."""
    metrics: list
    families: dict                       # label -> {column: values}
    family_sizes: dict                   # label -> number of models (rows that count)
    sweep_label: str | None = None
    sweep: dict | None = None            # {column: values} of the sweep's models
    sweep_size: int = 0
    best_label: str | None = None
    best: dict | None = None             # {column: value} of the sweep's best trial
    best_id: str | None = None
    references: dict = field(default_factory=dict)   # name -> {"values": {column: value}, "marker", "filled"}
    notes: list = field(default_factory=list)
    left_out: list = field(default_factory=list)     # columns of metrics left out

    def rows(self) -> list[str]:
        """The y-axis rows, top to bottom: the families, the reference points, the sweep."""
        rows = list(self.families) + list(self.references)
        return rows + ([self.sweep_label] if self.sweep_label else [])


def compare(families: dict, sweep: pd.DataFrame | None = None, best=None, references=None, sweep_label="sweep",
            sources=None) -> Comparison:
    """Put families of models side by side.

    families: {label: results table}, one row per model (rows that did not finish or diverged are left out).
    sweep: a sweep's results table, drawn as the distribution of all its models (pass the rows to use, e.g. its
    complete trials; unfinished and diverged rows are left out here too). best: the sweep's best trial (a row:
    a pandas Series or dict; by validation loss), drawn as a cross. references: {name: {metric column: value in
    display units}} or read_references' {name: {"values": ..., "marker": ..., "filled": ...}}.
    sources: {label or sweep_label: text naming the table} for the error messages.

    AnalysisError (one line) when there is no family, or a family or the sweep has no model with a value of any
    metric."""
    if not families:
        raise AnalysisError("no family to compare (give at least one)")
    sources = sources or {}

    def where(label):
        return f" ({sources[label]})" if label in sources else ""

    tables = list(families.values()) + ([sweep] if sweep is not None else [])
    candidates = candidate_metrics(tables)
    names = ", ".join(m.column for m in candidates)
    notes, selected = [], {}
    for label, df in families.items():
        rows, why = select_models(df)
        if not any(values_of(rows, m).size for m in candidates):
            extra = f"; {'; '.join(why)}" if why else ""
            raise AnalysisError(f"family {label!r}{where(label)}: no model with a value of any metric ({names}): "
                                f"{len(df)} row(s){extra}")
        selected[label] = rows
        notes += [f"{label}: {len(rows)} model(s)" + (f"; {'; '.join(why)}" if why else "")]
    sweep_rows = None
    if sweep is not None:
        sweep_rows, why = select_models(sweep)
        if not any(values_of(sweep_rows, m).size for m in candidates):
            extra = f"; {'; '.join(why)}" if why else ""
            raise AnalysisError(f"sweep {sweep_label!r}{where(sweep_label)}: no model with a value of any metric "
                                f"({names}): {len(sweep)} row(s){extra}")
        notes.append(f"{sweep_label}: {len(sweep_rows)} model(s)" + (f"; {'; '.join(why)}" if why else ""))

    kept, left_out = [], []
    for m in candidates:
        if any(values_of(rows, m).size for rows in selected.values()):
            m, note, comparable = provenance_of(m, list(selected.values()) + ([sweep_rows] if sweep_rows is not None
                                                                               else []))
            notes += [note] if note else []
            if not comparable:
                left_out.append(m.column)
                continue
            kept.append(m)
            continue
        left_out.append(m.column)
        hint = WHY_ABSENT.get(m.column)
        in_sweep = sweep_rows is not None and values_of(sweep_rows, m).size
        notes.append(f"{m.label} (`{m.column}`): left out, no family has a value"
                     + (" (the sweep has some)" if in_sweep else "") + (f"; {hint}" if hint else ""))

    comparison = Comparison(
        metrics=kept,
        families={label: {m.column: values_of(rows, m) for m in kept} for label, rows in selected.items()},
        family_sizes={label: len(rows) for label, rows in selected.items()},
        notes=notes, left_out=left_out)
    if sweep_rows is not None or best is not None:
        comparison.sweep_label = sweep_label
    if sweep_rows is not None:
        comparison.sweep = {m.column: values_of(sweep_rows, m) for m in kept}
        comparison.sweep_size = len(sweep_rows)
    if best is not None:
        row = dict(best)
        comparison.best_id = str(row.get("trial_id", "")) or None
        comparison.best_label = f"{sweep_label}: best trial" + (f" {comparison.best_id}" if comparison.best_id else "")
        comparison.best = {}
        for m in kept:
            v = pd.to_numeric(pd.Series([row.get(m.column)]), errors="coerce").iloc[0]
            if np.isfinite(v):
                comparison.best[m.column] = float(v) * m.scale
        vl = row.get("val_loss")
        notes.append(f"{comparison.best_label}: the best by validation loss"
                     + (f" ({float(vl):.4f})" if isinstance(vl, (int, float)) and math.isfinite(vl) else ""))
    elif sweep_rows is not None:
        notes.append(f"{sweep_label}: no best trial (no complete trial): no cross drawn")

    for i, (name, ref) in enumerate((references or {}).items()):
        if name in families or name == sweep_label:
            raise AnalysisError(f"reference {name!r}: the name is also that of a "
                                f"{'family' if name in families else 'sweep'} (give the reference another name)")
        ref = ref if "values" in ref else {"values": ref}
        values = {k: float(v) for k, v in ref["values"].items()}
        shown = {m.column: values[m.column] for m in kept if m.column in values}
        not_shown = [k for k in values if k not in shown]
        if not_shown:
            notes.append(f"reference {name!r}: {', '.join(not_shown)} not drawn (no such panel)")
        comparison.references[name] = {"values": shown,
                                       "marker": ref.get("marker") or REFERENCE_MARKERS[i % len(REFERENCE_MARKERS)],
                                       "filled": ref.get("filled", True)}
        for column, v in shown.items():
            if metric_for(column).unit == "%" and 0 < abs(v) <= 1:
                notes.append(f"reference {name!r}: {column} = {v:g} reads as {v:g}%; scores are in % (a fraction "
                             f"{v:g} is {100 * v:g}%)")
    return comparison


def provenance_of(m: Metric, tables: list) -> tuple[Metric, str | None, bool]:
    """(the metric as it is shown: its label marked when its scores are of a --limit run; a note saying how its
    scores were made, or why it is left out; whether it can be shown): scores made two ways are not one measure
    (analysis/provenance.py). (m, None, True) for a metric that is no suite score."""
    both = pd.concat([t for t in tables if m.column in t], ignore_index=True)
    if m.column not in suite_columns(both.columns):
        return m, None, True
    try:
        made = provenance.check_one(both, m.column, m.label)
    except AnalysisError as e:
        return m, f"left out {m.label} (`{m.column}`): {e}", False
    return replace(m, label=provenance.label(both, m.column, m.label)), f"{m.label} scores: {made}", True


# ---------------------------------------------------------------------------------------------------- table 3

TABLE_COLUMNS = ["model", "kind", "metric", "label", "unit", "n", "mean", "sd", "min", "max", "models"]


def comparison_table(c: Comparison) -> pd.DataFrame:
    """Table 3 in long form: one row per (model, metric) with a value: model (label), kind (family, sweep, best,
    reference), metric (column), label, unit, n, mean, sd (sample, n - 1), min, max, models (the group's size)."""
    rows = []

    def add(model, kind, values, size):
        for m in c.metrics:
            v = values.get(m.column)
            if v is None:
                continue
            s = summarize(np.atleast_1d(v))
            if s["n"] == 0:
                continue
            rows.append({"model": model, "kind": kind, "metric": m.column, "label": m.label, "unit": m.unit,
                         **s, "models": size})

    for label, values in c.families.items():
        add(label, "family", values, c.family_sizes[label])
    if c.sweep is not None:
        add(c.sweep_label, "sweep", c.sweep, c.sweep_size)
    if c.best is not None:
        add(c.best_label, "best", c.best, 1)
    for name, ref in c.references.items():
        add(name, "reference", ref["values"], 1)
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def _decimals(metric: Metric) -> int:
    return 4 if metric.unit == "nats" else 2


def _cell(metric: Metric, s: dict | None, size: int) -> str:
    if s is None or s["n"] == 0:
        return "—"
    d = _decimals(metric)
    text = f"{s['mean']:.{d}f}"
    if s["n"] > 1:
        text += f" ± {s['sd']:.{d}f}"
    if s["n"] < size:
        text += f" ({s['n']})"
    return text


def _md(text) -> str:
    return str(text).replace("|", "\\|")


def markdown_table(c: Comparison) -> str:
    """Table 3: one row per family (then the sweep, its best trial, the references), one column per metric,
    each cell mean ± sd over the group's models; '(k)' when only k of its n models have that metric."""
    table = comparison_table(c)
    head = "| model | n | " + " | ".join(m.title for m in c.metrics) + " |"
    lines = [head, "|---|---:|" + "---:|" * len(c.metrics)]
    groups = [(label, "family", c.family_sizes[label]) for label in c.families]
    if c.sweep is not None:
        groups.append((c.sweep_label, "sweep", c.sweep_size))
    if c.best is not None:
        groups.append((c.best_label, "best", 1))
    groups += [(name, "reference", None) for name in c.references]
    for model, kind, size in groups:
        sub = table[(table["model"] == model) & (table["kind"] == kind)].set_index("metric")
        stats = {col: sub.loc[col].to_dict() for col in sub.index}
        cells = [_cell(m, stats.get(m.column), size or 1) for m in c.metrics]
        lines.append(f"| {_md(model)} | {size if size is not None else '—'} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- figure 1

def plot_comparison(c: Comparison):
    """Figure 1: one panel per metric, one row per family (a violin of its models, ticks at the mean and ±1 sd;
    a point when it has one model, or all its models share one value), a row per reference point (a marker), and
    the sweep's row (a grey violin of its models and its best trial as a cross). Returns (Figure, meta): meta
    describes what each panel draws, {"panels": [{"metric", "title", "violins": [row labels], "points": [row
    labels], "ticks": {label: (mean - sd, mean, mean + sd)}, "best": value or None, "references": {name:
    value}}], "rows": [y-axis labels, top to bottom], "legend": [legend labels]}."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    rows = c.rows()
    y = {label: i for i, label in enumerate(rows)}
    n_panels = max(1, len(c.metrics))
    fig = Figure(figsize=(2.2 + 3.0 * n_panels, 1.6 + 0.45 * len(rows)), dpi=150, layout="constrained")
    axes = fig.subplots(1, n_panels, sharey=True, squeeze=False)[0]
    meta = {"panels": [], "rows": rows, "legend": []}
    colors = {label: f"C{i % 10}" for i, label in enumerate(c.families)}
    ref_colors = {name: f"C{(len(c.families) + i) % 10}" for i, name in enumerate(c.references)}

    for ax, m in zip(axes, c.metrics):
        panel = {"metric": m.column, "title": m.title, "violins": [], "points": [], "ticks": {}, "best": None,
                 "references": {}}
        groups = [(label, vals.get(m.column, np.empty(0)), colors[label]) for label, vals in c.families.items()]
        if c.sweep is not None:
            groups.append((c.sweep_label, c.sweep.get(m.column, np.empty(0)), SWEEP_COLOR))
        for label, v, color in groups:
            if v.size == 0:
                continue
            s = summarize(v)
            if v.size >= 2 and np.ptp(v) > 0:
                parts = _horizontal_violin(ax, v, y[label])
                for body in parts["bodies"]:
                    body.set_facecolor(color)
                    body.set_edgecolor(color)
                    body.set_alpha(0.35)
                    body.set_gid(f"violin:{label}")
                panel["violins"].append(label)
            else:
                ax.plot(v, np.full(v.size, y[label]), "o", color=color, ms=5, zorder=3, gid=f"point:{label}")
                panel["points"].append(label)
            if s["n"] > 1:
                lo, hi = s["mean"] - s["sd"], s["mean"] + s["sd"]
                ax.plot([lo, hi], [y[label]] * 2, "-", color=color, lw=1.2, zorder=4)
                ax.plot([lo, s["mean"], hi], [y[label]] * 3, "|", color=color, ms=14, mew=1.6, zorder=4,
                        gid=f"ticks:{label}")
                panel["ticks"][label] = (lo, s["mean"], hi)
        if c.best is not None and m.column in c.best:
            ax.plot([c.best[m.column]], [y[c.sweep_label]], "x", color=BEST_COLOR, ms=11, mew=2.2, zorder=6,
                    gid="best")
            panel["best"] = c.best[m.column]
        for name, ref in c.references.items():
            if m.column in ref["values"]:
                v = ref["values"][m.column]
                ax.plot([v], [y[name]], ref["marker"], ms=10, zorder=5, color=ref_colors[name],
                        markerfacecolor=ref_colors[name] if ref["filled"] else "none", gid=f"reference:{name}")
                panel["references"][name] = v
        ax.set_title(m.title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        meta["panels"].append(panel)

    axes[0].set_yticks(range(len(rows)), rows)
    axes[0].set_ylim(len(rows) - 0.5, -0.5)  # first family on top
    handles = [Line2D([], [], color="0.2", marker="|", ls="-", ms=12, mew=1.6, label="mean and ±1 sd")]
    if c.best is not None:
        handles.append(Line2D([], [], color=BEST_COLOR, marker="x", ls="none", ms=10, mew=2.2,
                              label=f"{c.best_label} (by validation loss)"))
    for name, ref in c.references.items():
        handles.append(Line2D([], [], color=ref_colors[name], marker=ref["marker"], ls="none", ms=9,
                              markerfacecolor=ref_colors[name] if ref["filled"] else "none", label=name))
    fig.legend(handles=handles, loc="outside lower center", ncols=min(4, len(handles)), fontsize=8, frameon=False)
    meta["legend"] = [h.get_label() for h in handles]
    return fig, meta


def _horizontal_violin(ax, values, position):
    try:  # matplotlib >= 3.10
        return ax.violinplot([values], positions=[position], orientation="horizontal", widths=0.8,
                             showextrema=False)
    except TypeError:  # earlier versions (setup.cfg allows 3.8)
        return ax.violinplot([values], positions=[position], vert=False, widths=0.8, showextrema=False)


# ---------------------------------------------------------------------------------------------------- report

EXPLANATION = """\
How to read this:

- Each cell is the **mean ± standard deviation** over the models of the row's group (the sample standard \
deviation, n − 1); **n** is the number of models in the group (finished, not diverged), and '(k)' says that only \
k of them have that metric. A group of one model has no standard deviation.
- Losses are in nats per token (lower is better); suite scores in % (higher is better): the mean over the \
suite's paradigms, tasks or domains of each one's accuracy; SuperGLUE is the macro average over the tasks of \
`babysweep finetune-all`.
- The sweep's row is the distribution of its models ({sweep_rule}); its best trial is the best by validation loss \
among complete trials, drawn as a cross. Reference points are the values given in the reference file.
- In the figure each family is a violin (the kernel density of its models' values) with ticks at the mean and \
±1 standard deviation; a family of one model is a point.
"""


def write_report(c: Comparison, out_dir, fig, sources=None, sweep_rule="complete, non-diverged trials") -> dict:
    """Write compare.md, compare.csv, compare.png and compare.pdf into out_dir (created if needed), each under a
    temporary name first, then renamed. Returns {file name: path}."""
    out = output_folder(out_dir)
    try:
        paths = save_figure(fig, out, "compare")
        md = ["# Model families compared (Table 3, Figure 1)", "", markdown_table(c), ""]
        if sources:
            md += ["Results tables:", ""] + [f"- {label}: `{src}`" for label, src in sources.items()] + [""]
        md += ["Notes:", ""] + [f"- {n}" for n in c.notes] + [""]
        md += [EXPLANATION.format(sweep_rule=sweep_rule), "Figure: [compare.png](compare.png), "
               "[compare.pdf](compare.pdf)", ""]
        write_text(out / "compare.md", "\n".join(md))
        paths["compare.md"] = out / "compare.md"
        table = comparison_table(c)
        if sources:
            table["source"] = [sources.get(m, "") for m in table["model"]]
        write_csv(out / "compare.csv", table)
        paths["compare.csv"] = out / "compare.csv"
    except OSError as e:
        raise AnalysisError(f"--out {out}: cannot write ({e.strerror or e})") from None
    return {name: paths[name] for name in FILES}
