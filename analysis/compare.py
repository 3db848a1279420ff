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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sweep.errors import SweepError
from sweep.table import FINETUNE_SCHEMA, FINISHED, parse_bool, read_table, suite_columns
from trainables.files import write_csv, write_text

from .correlate import SUITE_LABELS, AnalysisError, numeric
from .output import output_folder, save_figure

FILES = ("compare.md", "compare.csv", "compare.png", "compare.pdf")
SUPERGLUE = "superglue"
FINETUNE_DIR = "finetune"           # <experiment>/finetune/<trial_id>/finetune_all.csv
FINETUNE_TABLE = "finetune_all.csv"  # as sweep.finetune_all.TABLE (not imported: it pulls in the trainables)
MACRO_AVERAGE = "macro average"     # the task name of finetune_all.csv's last row


@dataclass(frozen=True)
class Metric:
    column: str
    label: str
    unit: str                # "nats" or "%"
    scale: float = 1.0       # table value x scale = the value shown
    lower_is_better: bool = False

    @property
    def title(self) -> str:
        return f"{self.label} ({self.unit}) {'↓' if self.lower_is_better else '↑'}"


# the paper's panels (test loss, BLiMP filtered, BLiMP supplement, SuperGLUE) and validation loss; other suites after
BASE_METRICS = [
    Metric("test_loss", "test loss", "nats", 1.0, True),
    Metric("val_loss", "validation loss", "nats", 1.0, True),
    Metric("blimp_filtered", "BLiMP filtered", "%", 100.0),
    Metric("blimp_supplement", "BLiMP supplement", "%", 100.0),
    Metric(SUPERGLUE, "SuperGLUE macro average", "%", 100.0),
]
WHY_ABSENT = {
    "test_loss": "trials write it when they finish their schedule",
    "val_loss": "no model reported one",
    "blimp_filtered": "babysweep evaluate NAME --blimp DIR",
    "blimp_supplement": "babysweep evaluate NAME --supplement DIR",
    SUPERGLUE: f"babysweep finetune-all --checkpoint CKPT --out <experiment>/{FINETUNE_DIR}/<trial_id>",
}
REFERENCE_MARKERS = ["^", "s", "*", "D", "v", "P", "h", "o", "<", ">"]
ALLOWED_MARKERS = set(REFERENCE_MARKERS) | {"p", "X", "d", "8", "H", "x", "+", "."}
SWEEP_COLOR, BEST_COLOR = "0.55", "black"


def metric_for(column: str) -> Metric:
    """The Metric of a column: a base metric, else a suite score (a fraction, shown in %)."""
    for m in BASE_METRICS:
        if m.column == column:
            return m
    return Metric(column, SUITE_LABELS.get(column, column), "%", 100.0)


def candidate_metrics(tables) -> list[Metric]:
    """The base metrics, then every other suite column of any of the tables (in the order first seen)."""
    out = list(BASE_METRICS)
    seen = {m.column for m in out}
    for df in tables:
        for column in suite_columns(df.columns):
            if column not in seen:
                seen.add(column)
                out.append(metric_for(column))
    return out


def known_metric_names(tables) -> list[str]:
    """Metric names a reference file may use: the base metrics, EWoK, the built-in pairs and the tables' suites."""
    names = [m.column for m in candidate_metrics(tables)]
    return names + [s for s in SUITE_LABELS if s not in names]


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


# ---------------------------------------------------------------------------------------------------- input

def read_references(path, known=None) -> dict:
    """Reference points from a YAML or JSON file: {name: {metric: value, ..., marker: M, filled: true|false}}.

    Metrics are column names (test_loss, val_loss, blimp_filtered, blimp_supplement, superglue, ewok, ...) with
    values in the units of the comparison (losses in nats per token, scores in %); `marker` (optional) is a
    matplotlib marker (^ s * D v P h o < > p X d 8 H x + .), `filled` (optional, default true) whether it is
    filled (the paper: filled for 10M-word baselines, empty for 100M). `known`: the metric names allowed (an
    unknown one is an error, a typo would otherwise vanish). Returns {name: {"values": {metric: value},
    "marker": M or None, "filled": bool}}; AnalysisError naming the file and the problem."""
    import yaml

    path = Path(path)
    src = f"--reference {path}"
    if not path.exists():
        raise AnalysisError(f"{src}: file not found")
    if not path.is_file():
        raise AnalysisError(f"{src}: is a folder, not a YAML or JSON file")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise AnalysisError(f"{src}: not valid YAML/JSON ({' '.join(str(e).split())})") from None
    except OSError as e:
        raise AnalysisError(f"{src}: cannot read ({e.strerror or e})") from None
    if not isinstance(doc, dict) or not doc:
        raise AnalysisError(f"{src}: must map reference names to {{metric: value}} (e.g. 'BabyLlama (10M)': "
                            f"{{blimp_filtered: 69.8}}), got {type(doc).__name__ if doc is not None else 'nothing'}")
    out = {}
    for name, entry in doc.items():
        if not isinstance(name, str) or not name.strip():
            raise AnalysisError(f"{src}: reference name {name!r} must be text")
        if not isinstance(entry, dict) or not entry:
            raise AnalysisError(f"{src}: {name}: must be a mapping of metric: value (got {entry!r})")
        values, marker, filled = {}, None, True
        for key, value in entry.items():
            if key == "marker":
                if not isinstance(value, str) or value not in ALLOWED_MARKERS:
                    raise AnalysisError(f"{src}: {name}: marker {value!r} is not one of "
                                        f"{' '.join(sorted(ALLOWED_MARKERS))}")
                marker = value
            elif key == "filled":
                if not isinstance(value, bool):
                    raise AnalysisError(f"{src}: {name}: filled must be true or false (got {value!r})")
                filled = value
            else:
                if not isinstance(key, str):
                    raise AnalysisError(f"{src}: {name}: metric name {key!r} must be text")
                if known is not None and key not in known:
                    raise AnalysisError(f"{src}: {name}: unknown metric {key!r} (known: {', '.join(known)})")
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise AnalysisError(f"{src}: {name}: {key} must be a finite number (got {value!r})")
                values[key] = float(value)
        if not values:
            raise AnalysisError(f"{src}: {name}: no metric value (e.g. blimp_filtered: 69.8)")
        out[name] = {"values": values, "marker": marker, "filled": filled}
    return out


def superglue_macro_average(path) -> float:
    """The macro average (in %) of a finetune_all.csv, read through its schema (sweep.table.FINETUNE_SCHEMA: a
    SweepError naming the line of a score that is not a number in [-100, 100]); ValueError when it has none."""
    table = read_table(path, FINETUNE_SCHEMA)
    row = table[table["task"].astype(str) == MACRO_AVERAGE]
    if row.empty:
        raise ValueError(f"no '{MACRO_AVERAGE}' row")
    value = float(pd.to_numeric(row["score"], errors="coerce").iloc[-1])
    if not math.isfinite(value):
        raise ValueError("its macro average is not a number")
    return value


def attach_superglue(df: pd.DataFrame, experiment_dir) -> tuple[pd.DataFrame, list[str]]:
    """The table with a `superglue` column (the SuperGLUE macro average as a fraction, like every suite column)
    from the `babysweep finetune-all` runs kept in <experiment_dir>/finetune/<folder>/finetune_all.csv: a folder
    named after a trial id is that trial's; any other is matched by the checkpoint its finetune_all.json names
    (the trial's `checkpoint`, or a path inside its trial_<id> folder). A table that already has values in
    `superglue` is kept as it is. Returns (table, notes)."""
    if SUPERGLUE in df.columns and np.isfinite(numeric(df, SUPERGLUE)).any():
        return df, []
    root = Path(experiment_dir) / FINETUNE_DIR
    files = sorted(root.glob(f"*/{FINETUNE_TABLE}")) if root.is_dir() else []
    if not files or "trial_id" not in df.columns:
        return df, []
    ids = df["trial_id"].astype(str).tolist()
    by_checkpoint = {}
    if "checkpoint" in df.columns:
        for tid, ckpt in zip(ids, df["checkpoint"]):
            if isinstance(ckpt, str) and ckpt:
                by_checkpoint[str(Path(ckpt))] = tid
    scores, notes = {}, []
    for path in files:
        tid = path.parent.name if path.parent.name in ids else None
        if tid is None:
            tid = _trial_of_finetune(path.parent, ids, by_checkpoint)
        if tid is None:
            notes.append(f"{path}: matches no trial of the table (folder name or checkpoint); not used")
            continue
        try:
            scores[tid] = superglue_macro_average(path) / 100.0
        except SweepError as e:  # names the file, its line and value
            notes.append(f"{e}; not used")
        except (OSError, ValueError) as e:
            notes.append(f"{path}: not used ({' '.join(str(e).split())})")
    if scores:
        notes.append(f"SuperGLUE macro average of {len(scores)} model(s) from {root}/*/{FINETUNE_TABLE}")
    out = df.copy()
    out[SUPERGLUE] = [scores.get(t, math.nan) for t in ids]
    return out, notes


def _trial_of_finetune(folder: Path, ids, by_checkpoint):
    import json

    try:
        checkpoint = json.loads((folder / "finetune_all.json").read_text()).get("checkpoint")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(checkpoint, str):
        return None
    if str(Path(checkpoint)) in by_checkpoint:
        return by_checkpoint[str(Path(checkpoint))]
    parts = set(Path(checkpoint).parts)
    found = [t for t in ids if f"trial_{t}" in parts]
    return found[0] if len(found) == 1 else None


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
