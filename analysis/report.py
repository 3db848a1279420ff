"""`babysweep report NAME`: one self-contained HTML page about a sweep, for a person to read.

    <experiment>/report.html      the page: every image embedded as a base64 PNG data URI, CSS inline, no script,
                                  no font or file fetched: it opens from disk in any browser, with no server and no
                                  network, and can be mailed as one file
    <experiment>/report/*.png|pdf the report's own figures, for papers and slides

Sections, in order: the sweep's settings (space file, algorithm, samples, eta, budget, brackets and rungs, resources,
the searched priors), the compute used; the anytime curve (best validation loss against the cumulative budget in
epochs, with a second sweep's when `compare_with` is given, e.g. random search on the same space); every trial's
validation loss against epoch, coloured by bracket when the table records it, otherwise by the budget the trial
reached (the rung it was stopped at), the rungs as vertical lines; validation loss against each searched
hyperparameter (log axis where the prior is log-scaled, the prior's density shaded behind); the correlation plots
(`babysweep analyze correlate`), the stability plots (`babysweep analyze stability`, in the re-run's analysis folder)
and the family comparison (compare.png, `babysweep analyze compare`) when those analyses have been run, and
otherwise the commands that produce them; the results table, in the trainable's units.

Nothing here runs an analysis or Ray: the page is drawn from the experiment's files. It is built in memory and
each file is written under a temporary name, then renamed (trainables.files), so a reader never sees half a report.
"""
import base64
import html
import io
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sweep.table import FINISHED, parse_bool, suite_columns
from trainables.errors import UserError
from trainables.files import atomic_path, write_text

REPORT_HTML = "report.html"
FIGURES_DIR = "report"
DEFAULT_STORAGE = "runs"  # as sweep.folder.DEFAULT_STORAGE (the flag is left out of commands for it)
EPS = 1e-9
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LOG_SCALED = ("log_normal", "q_log_normal", "log_uniform", "q_log_uniform")
KIND_NAMES = {"log_normal": "log-normal", "q_log_normal": "log-normal, rounded to multiples of q",
              "log_uniform": "log-uniform", "q_log_uniform": "log-uniform, rounded to multiples of q",
              "uniform": "uniform", "int_uniform": "uniform on the integers", "choice": "choice (equal weights)"}


class ReportError(UserError):
    """One-line, user-facing error naming the sweep and why there is no report."""


# ------------------------------------------------------------------------------------------------ numbers

def fmt(v, spec=".4g") -> str:
    """A cell as a person reads it: 4 significant digits, integers as integers, '—' for a missing value."""
    if v is None:
        return "—"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return "—"
        if math.isinf(v):
            return "∞" if v > 0 else "-∞"
        if v.is_integer() and abs(v) < 1e6:
            return str(int(v))
        return format(v, spec)
    return str(v)


def epochs(v) -> str:
    return f"{fmt(v)} epoch" + ("" if v == 1 else "s")


def hours_text(hours: float) -> str:
    """'0.004637 (17 s)': hours, with seconds or minutes beside small amounts."""
    if hours <= 0 or not math.isfinite(hours):
        return fmt(hours)
    if hours < 1 / 60:
        return f"{hours:.4g} ({hours * 3600:.0f} s)"
    if hours < 1:
        return f"{hours:.4g} ({hours * 60:.1f} min)"
    return f"{hours:.4g}"


def scored_suites(df: pd.DataFrame) -> list[str]:
    """The suite-score columns of a table that hold at least one value."""
    return [s for s in suite_columns(df.columns) if pd.to_numeric(df[s], errors="coerce").notna().any()]


# ------------------------------------------------------------------------------------------------ budgets

def bracket_rungs(budget_min: float, budget_max: float, eta: float, budget_step=None) -> dict:
    """{bracket s: [rung budgets in epochs]} of babysweep's HyperBandForBOHB (sweep/bohb.py), computed as it does
    (without Ray): budgets count in units of the reporting step (budget_step, else budget min), as many brackets
    as hpbandster has, Ray's rungs r0 = max * eta^-s, then int(min(r * eta, max)) until the maximum."""
    unit = min(float(budget_min), float(budget_step) if budget_step else math.inf)
    max_units = max(1, round(budget_max / unit))
    ratio = max_units / max(1.0, budget_min / unit)
    s_max_1 = int(math.floor(math.log(ratio) / math.log(eta) + EPS)) + 1 if ratio > 1 and eta > 1 else 1
    out = {}
    for s in range(s_max_1):
        r = int(max_units * eta ** (-s))
        if r == 0:
            continue
        rungs = [r]
        while r < max_units:
            r = int(min(r * eta, max_units))
            rungs.append(r)
        out[s] = [x * unit for x in rungs]
    return out


def asha_rungs(budget_min: float, budget_max: float, eta: float) -> list:
    """ASHA's milestones: grace period (budget min) times eta^k, up to the maximum."""
    out, r = [], float(budget_min)
    while r < budget_max - EPS and eta > 1:
        out.append(r)
        r *= eta
    return out + [float(budget_max)]


def rung_budgets(exp) -> tuple[list, dict, str]:
    """(sorted rung budgets in epochs, {bracket: rungs} for BOHB, a sentence saying where they come from)."""
    space, record = exp.space, exp.record
    algo = record.get("algo", "bohb")
    eta = float(record.get("reduction_factor") or 3.0)
    if algo == "bohb":
        step = {**space.constants, **(record.get("extra") or {})}.get("budget_step")
        brackets = bracket_rungs(space.budget_min, space.budget_max, eta, step)
        rungs = sorted({r for b in brackets.values() for r in b})
        return rungs, brackets, (f"HyperBand brackets of budget {space.budget_min:g} to {space.budget_max:g} epochs "
                                 f"with eta = {eta:g}")
    if algo == "asha":
        return asha_rungs(space.budget_min, space.budget_max, eta), {}, \
            f"ASHA milestones from {space.budget_min:g} epochs with eta = {eta:g}"
    return [], {}, f"no rungs: {algo} does not stop trials early"


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

def _figure(width, height):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def plot_anytime(exp, compare_with=None):
    fig = _figure(7.0, 4.0)
    ax = fig.add_subplot()
    curves = [(exp, "C0")] + ([(compare_with, "C1")] if compare_with is not None else [])
    ends = []
    for e, colour in curves:
        c = anytime_curve(e.history).dropna(subset=["best"])
        if c.empty:
            continue
        label = f"{e.name} ({e.record.get('algo', e.kind)}): best {fmt(c['best'].iloc[-1])}"
        ax.step(c["budget"], c["best"], where="post", color=colour, lw=2, label=label)
        ax.scatter(c["budget"], c["value"], s=10, color=colour, alpha=0.35, edgecolors="none")
        ends.append(c["budget"].iloc[-1])
    if len(ends) == 2:
        ax.axvline(min(ends), color="grey", ls=":", lw=1, label=f"common budget ({fmt(min(ends))} epochs)")
    ax.set_xlabel("cumulative budget used (epochs, summed over all trials)")
    ax.set_ylabel("best validation loss so far")
    ax.set_title("Anytime performance: best validation loss against budget")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_trials(exp, colours: Colours, rungs):
    fig = _figure(7.0, 4.2)
    ax = fig.add_subplot()
    history = exp.history
    best = exp.best_trial()
    best_id = None if best is None else str(best["trial_id"])
    values = []
    for tid, h in history.groupby("trial_id", sort=False):
        h = h.sort_values("epoch")
        y = pd.to_numeric(h["val_loss"], errors="coerce").where(lambda v: np.isfinite(v))
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
    ax.set_ylabel("validation loss")
    ax.set_title(f"Every trial's validation loss ({history['trial_id'].nunique()} trials)")
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
    """Final validation loss of each trial against each searched hyperparameter, the prior shaded on a twin axis."""
    params = list(exp.space.params.values())
    cols = min(3, len(params))
    rows = math.ceil(len(params) / cols)
    fig = _figure(4.0 * cols, 3.2 * rows)
    table = exp.table
    y = pd.to_numeric(table["val_loss"], errors="coerce") if "val_loss" in table else pd.Series(np.nan, table.index)
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
            ax.set_ylabel("final validation loss")
        ax.grid(alpha=0.25)
        left_out = int(len(keep) - keep.sum())
        ax.set_title(p.name + (f" ({left_out} without a value)" if left_out else ""), fontsize=9)
    fig.legend(handles=colours.legend_handles(), loc="outside lower center",
               ncols=min(4, len(colours.colour_of_level) or 1),
               fontsize=8, title=f"trials coloured by {colours.by}; grey: the prior's density", title_fontsize=8)
    return fig


def figure_bytes(fig, fmt_="png") -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt_, dpi=110 if fmt_ == "png" else None)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------ analyses

def storage_flag(exp) -> str:
    storage = exp.path.parent
    return "" if storage == Path(DEFAULT_STORAGE).resolve() else f" --storage {storage}"


def command(exp, *words) -> str:
    return "babysweep " + " ".join(words) + storage_flag(exp)


def analysis_folders(exp, reruns) -> list[Path]:
    """Where an analysis of this sweep may be: its own analysis folder, then each re-run's."""
    return [exp.analysis_dir] + [r / "analysis" for r in reruns]


def find_reruns(exp) -> list[Path]:
    """Re-run experiments of this sweep in its storage: <name>-rerun first, then any other whose sweep.json says
    kind rerun with this source."""
    import json

    storage = exp.path.parent
    found = []
    default = storage / f"{exp.name}-rerun"
    if (default / "sweep.json").is_file():
        found.append(default)
    try:
        folders = sorted(p for p in storage.iterdir() if p.is_dir() and p != default and p != exp.path)
    except OSError:
        folders = []
    for folder in folders:
        try:
            record = json.loads((folder / "sweep.json").read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("kind") == "rerun" and record.get("source") == exp.name:
            found.append(folder)
    return found


def _png(path: Path) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data if data.startswith(PNG_MAGIC) else None


def _read_csv(path: Path):
    try:
        return pd.read_csv(path, dtype={"source_trial_id": str})
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None


def _stale(path: Path, exp_paths) -> bool:
    """Was the analysis file written before the latest change of the tables it was drawn from?"""
    try:
        written = path.stat().st_mtime
        return any(p.is_file() and p.stat().st_mtime > written + 1.0 for p in exp_paths)
    except OSError:
        return False


# ------------------------------------------------------------------------------------------------ HTML

CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 0 auto;
       max-width: 1100px; padding: 1.5em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
.meta { color: #666; font-size: 0.9em; }
nav a { margin-right: 1em; font-size: 0.9em; }
code { background: #f3f3f3; padding: 0.05em 0.3em; border-radius: 3px; font-size: 0.92em; }
table { border-collapse: collapse; font-size: 0.86em; margin: 0.6em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.55em; text-align: left; vertical-align: top; }
th { background: #f5f5f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best td { background: #eef7ee; font-weight: 600; }
.scroll { overflow-x: auto; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; max-width: 900px; }
.missing { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.6em 0.9em; }
.running { background: #e8f1fd; border-left: 4px solid #2f6fd6; padding: 0.6em 0.9em; }
.note { color: #555; font-size: 0.9em; }
"""


def esc(text) -> str:
    return html.escape(str(text), quote=True)


def img_tag(png: bytes, alt: str) -> str:
    return f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" alt="{esc(alt)}">'


def figure_html(png: bytes, alt: str, caption: str = "") -> str:
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f"<figure>{img_tag(png, alt)}{cap}</figure>"


def kv_table(rows) -> str:
    return ('<table class="kv">' + "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows)
            + "</table>")


def html_table(df: pd.DataFrame, headers=None, titles=None, numeric=(), highlight=None) -> str:
    headers = headers or list(df.columns)
    titles = titles or {}
    head = "".join(f'<th title="{esc(titles[c])}">{esc(h)}</th>' if c in titles else f"<th>{esc(h)}</th>"
                   for c, h in zip(df.columns, headers))
    body = []
    for i, row in enumerate(df.itertuples(index=False)):
        cls = ' class="best"' if highlight is not None and i == highlight else ""
        cells = "".join(f'<td class="num">{esc(fmt(v))}</td>' if c in numeric else f"<td>{esc(fmt(v))}</td>"
                        for c, v in zip(df.columns, row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def missing(text: str) -> str:
    return f'<p class="missing">{text}</p>'


def cmd(text: str) -> str:
    return f"<code>{esc(text)}</code>"


class Report:
    """Builds the page in memory: `sections` (HTML strings) and `figures` ({stem: (png bytes, pdf bytes)})."""

    def __init__(self, exp, compare_with=None):
        self.exp, self.other = exp, compare_with
        self.figures = {}
        self.running = exp.driver().startswith("running")
        self.colours = Colours(exp)
        self.rungs, self.brackets, self.rung_source = rung_budgets(exp)

    def add_figure(self, stem, fig, alt, caption="") -> str:
        png = figure_bytes(fig, "png")
        fig.set_layout_engine("none")  # keep the layout the PNG drew: laying out twin axes again costs seconds
        pdf = figure_bytes(fig, "pdf")
        self.figures[stem] = (png, pdf)
        return figure_html(png, alt, caption + f' <span class="note">(also {FIGURES_DIR}/{stem}.png and '
                                                f'{FIGURES_DIR}/{stem}.pdf)</span>')

    # ---------------------------------------------------------------- sections
    def settings(self) -> str:
        exp, record, space = self.exp, self.exp.record, self.exp.space
        source = record.get("space_source") or record.get("space") or "—"
        try:
            seeding = exp.spec.seeding
        except Exception:  # a record this version cannot type: say what it holds
            seeding = record.get("seeding", "—")
        rows = [("space file", f"{cmd(source)} (copy kept in {cmd(exp.path / 'space.yaml')})"),
                ("space", esc(space.name if space.name != "space" else Path(str(source)).stem)),
                ("kind", esc(exp.kind)),
                ("algorithm", esc(record.get("algo", "—"))),
                ("trainable", esc(record.get("trainable") or space.trainable)),
                ("samples", esc(fmt(record.get("samples")))),
                ("reduction factor (eta)", esc(fmt(record.get("reduction_factor")))),
                ("budget", esc(f"{fmt(space.budget_min)} to {fmt(space.budget_max)} epochs")),
                ("metric", esc(f"{space.metric} ({space.mode})")),
                ("searcher seed", esc(fmt(record.get("seed")))), ("seeding", esc(seeding))]
        if self.brackets:
            rows.append(("brackets and rungs", "<br>".join(
                esc(f"bracket {s}: rungs at {', '.join(fmt(r) for r in rungs)} epochs")
                for s, rungs in self.brackets.items())))
        elif self.rungs:
            rows.append(("rungs", esc(", ".join(fmt(r) for r in self.rungs) + " epochs")))
        resources = [f"{fmt(record.get('cpus_per_trial'))} CPU(s) and {fmt(record.get('gpus_per_trial'))} GPU(s) "
                     f"per trial"]
        if record.get("max_concurrent"):
            resources.append(f"at most {fmt(record['max_concurrent'])} trials at once")
        resources.append(f"Ray cluster {record['address']}" if record.get("address") else "a private local Ray")
        rows.append(("resources", esc("; ".join(resources))))
        limits = [f"{fmt(record[k])} {unit}" for k, unit in (("max_budget", "epochs"), ("max_hours", "trial-hours"),
                                                             ("max_gpu_hours", "GPU-hours")) if record.get(k)]
        if limits:
            rows.append(("compute budget", esc(", ".join(limits))))
        if self.other is not None:
            o = self.other
            rows.append(("compared with", esc(f"{o.name}: {o.record.get('algo', o.kind)}, "
                                              f"{fmt(o.record.get('samples'))} samples, space {o.space.name}")))
        priors = pd.DataFrame([{"name": p.name, "prior": describe_prior(p),
                                "axis": "log" if p.kind in LOG_SCALED else "linear"}
                               for p in space.params.values()])
        constants = ", ".join(f"{k} = {fmt(v)}" for k, v in space.constants.items()) or "none"
        return ('<section id="settings"><h2>Settings</h2>' + kv_table(rows)
                + "<h3>Searched hyperparameters (in the trainable's units)</h3>"
                + html_table(priors, ["parameter", "prior", "axis in the plots"])
                + f'<p class="note">Constants: {esc(constants)}</p></section>')

    def compute(self) -> str:
        exp = self.exp
        df = exp.table
        hours = float(pd.to_numeric(df.get("wall_s"), errors="coerce").sum() / 3600) if "wall_s" in df else 0.0
        gpu = float(pd.to_numeric(df.get("gpu_s"), errors="coerce").sum() / 3600) if "gpu_s" in df else 0.0
        epochs = float(pd.to_numeric(df.get("epoch"), errors="coerce").sum()) if "epoch" in df else 0.0
        counts = ", ".join(f"{v} {k}" for k, v in exp.state_counts().items()) or "none"
        rows = [("trials", esc(f"{len(df)} ({counts})")), ("trial-hours", esc(hours_text(hours))),
                ("GPU-hours", esc(hours_text(gpu))), ("epochs trained (all trials)", esc(fmt(epochs))),
                ("driver", esc(exp.driver()))]
        if "diverged" in df and df["diverged"].map(parse_bool).any():
            rows.append(("diverged", esc(f"{int(df['diverged'].map(parse_bool).sum())} trial(s)")))
        from sweep.status import compute_budget

        for b in compute_budget(exp, df):
            rows.append((f"compute budget ({b['unit'].replace('_', '-')})",
                         esc(f"{fmt(b['used'])} of {fmt(b['limit'])} used, {fmt(b['left'])} left")))
        best = exp.best_trial()
        if best is not None:
            config = ", ".join(f"{p} = {fmt(best.get(f'config/{p}'))}" for p in exp.space.params)
            rows.append(("best trial", esc(f"{best['trial_id']}: {exp.space.metric} {fmt(best[exp.space.metric])} at "
                                           f"epoch {fmt(best['epoch'])}; {config}")))
        else:
            rows.append(("best trial", esc(f"none yet ({exp.best_rule()})")))
        return '<section id="compute"><h2>Compute used</h2>' + kv_table(rows) + "</section>"

    def anytime(self) -> str:
        exp, other = self.exp, self.other
        head = '<section id="anytime"><h2>Best validation loss against budget (anytime curve)</h2>'
        if anytime_curve(exp.history).dropna(subset=["best"]).empty:
            return head + missing(f"No history yet ({esc(exp.history_path)} holds no validation loss).") + "</section>"
        caption = ("The step line is the best validation loss any trial had reported once the trials together had "
                   "used the budget on the x axis (epochs summed over trials, in the order the reports arrived); "
                   "dots are single reports. A curve that drops early and flattens found good configurations "
                   "cheaply.")
        text = ""
        if other is not None:
            a = anytime_curve(exp.history).dropna(subset=["best"])
            b = anytime_curve(other.history).dropna(subset=["best"])
            if not b.empty:
                common = min(a["budget"].iloc[-1], b["budget"].iloc[-1])
                at = [c[c["budget"] <= common + EPS]["best"] for c in (a, b)]
                at = [s.iloc[-1] if len(s) else math.nan for s in at]
                text = (f'<p>At the common budget of {esc(fmt(common))} epochs: {esc(exp.name)} best '
                        f'{esc(fmt(at[0]))}, {esc(other.name)} best {esc(fmt(at[1]))}.</p>')
        fig = plot_anytime(exp, other)
        return head + self.add_figure("anytime", fig, "best validation loss against cumulative budget", caption) \
            + text + "</section>"

    def trials(self) -> str:
        exp = self.exp
        head = '<section id="trials"><h2>Every trial\'s validation loss</h2>'
        if exp.history.empty:
            return head + missing(f"No history yet ({esc(exp.history_path)} is absent or empty).") + "</section>"
        how = ("by bracket" if self.colours.by == "bracket" else
               "by the budget each trial reached (the table does not record HyperBand brackets: a trial stopped at "
               "a rung ends there)")
        caption = (f"Validation loss at each report, one line per trial, coloured {how}. Dashed lines: the rungs "
                   f"({esc(self.rung_source)}), where the scheduler compares trials and stops the worse ones. "
                   f"The thick grey line is the best trial.")
        fig = plot_trials(exp, self.colours, self.rungs)
        return head + self.add_figure("trials", fig, "validation loss against epoch, every trial", caption) \
            + "</section>"

    def hyperparameters(self) -> str:
        caption = ("Each dot is one trial: its final validation loss against its value of the hyperparameter (in "
                   "the units the trainable receives). Log axis where the prior is log-scaled. The grey shading is "
                   "the prior the searcher samples from (for log-scaled priors, the density of ln x; for integer "
                   "and choice parameters, each value's probability), drawn from the space's definition. Trials "
                   "stopped at an early rung have higher losses than they would have reached: compare dots of "
                   "the same colour.")
        fig = plot_hyperparameters(self.exp, self.colours)
        return ('<section id="hyperparameters"><h2>Validation loss against each hyperparameter</h2>'
                + self.add_figure("hyperparameters", fig, "validation loss against each hyperparameter", caption)
                + "</section>")

    def correlation(self) -> str:
        exp = self.exp
        out = exp.analysis_dir
        head = '<section id="correlation"><h2>Validation loss against BLiMP and test loss (correlation)</h2>'
        suites = scored_suites(exp.table)
        evaluate = cmd(f"babysweep evaluate {exp.name} --blimp DIR{storage_flag(exp)}")
        correlate = cmd(command(exp, "analyze", "correlate", exp.name))
        if not (out / "correlate.md").is_file():
            if suites:
                how = f"Not run yet: {correlate} writes it (regressions of {esc(', '.join(suites))} and test loss on " \
                      f"validation loss)."
            else:
                how = (f"Not run yet. Score the trials' models first with {evaluate} (a folder of BLiMP-format "
                       f"*.jsonl pairs; the built-in corpus has one), then run {correlate}.")
            return head + missing(how) + "</section>"
        parts = [f'<p class="note">From {cmd(out / "correlate.md")}.</p>']
        if _stale(out / "correlate.md", [exp.table_path, exp.evaluation_path]):
            parts.append(missing(f"Written before the results table last changed: run {correlate} again to "
                                 f"refresh it."))
        if not suites:
            parts.append(missing(f"No suite scores in the table: only test loss was regressed. For BLiMP, run "
                                 f"{evaluate}, then {correlate}."))
        table = _read_csv(out / "correlate.csv")
        stems = []
        if table is not None and {"label", "y", "x"} <= set(table.columns):
            view = pd.DataFrame({
                "pair": [f"{lab} vs {x}" for lab, x in zip(table["label"], table["x"])],
                "n": table.get("n"), "R²": table.get("r2"),
                "95% CI": [f"[{fmt(lo, '.3f')}, {fmt(hi, '.3f')}]" if pd.notna(lo) else "—"
                           for lo, hi in zip(table.get("r2_lo", [math.nan] * len(table)),
                                             table.get("r2_hi", [math.nan] * len(table)))],
                "slope": table.get("slope"), "p": table.get("p"),
                "skipped": table.get("skipped", pd.Series([None] * len(table)))})
            parts.append(html_table(view, numeric={"n", "R²", "slope", "p"}))
            import re

            stems = [re.sub(r"[^A-Za-z0-9._-]", "_", f"{y}_vs_{x}") for y, x in zip(table["y"], table["x"])]
        else:
            stems = sorted(p.stem for p in out.glob("*_vs_*.png"))
        shown = 0
        for s in stems:
            png = _png(out / f"{s}.png")
            if png is not None:
                parts.append(figure_html(png, f"correlation plot {s}", f"{esc(s)}.png"))
                shown += 1
        if not shown:
            parts.append(missing(f"No correlation plot in {esc(out)} (every pair was skipped, or the plots were "
                                 f"removed): run {correlate} again."))
        return head + "".join(parts) + "</section>"

    def stability(self) -> str:
        exp = self.exp
        head = '<section id="stability"><h2>Stability of the best configurations (re-runs)</h2>'
        reruns = find_reruns(exp)
        folders = analysis_folders(exp, reruns)
        found = [f for f in folders if (f / "stability.md").is_file()]
        rerun_cmd = cmd(command(exp, "rerun", exp.name))
        if not found:
            if not reruns:
                how = (f"No re-run of this sweep yet: {rerun_cmd} re-trains its best configurations with new seeds, "
                       f"then {cmd(command(exp, 'analyze', 'stability', exp.name))} compares them with the sweep.")
            else:
                extra = [] if reruns[0].name == f"{exp.name}-rerun" else ["--rerun", reruns[0].name]
                how = (f"Re-run {esc(reruns[0].name)} exists but has not been analysed: run "
                       f"{cmd(command(exp, 'analyze', 'stability', exp.name, *extra))}.")
            return head + missing(how) + "</section>"
        parts = []
        for folder in found:
            parts.append(f'<p class="note">From {cmd(folder / "stability.md")}.</p>')
            rerun_dir = folder.parent
            if _stale(folder / "stability.md", [exp.table_path, rerun_dir / "results.csv"]):
                parts.append(missing(f"Written before a results table last changed: run "
                                     f"{cmd(command(exp, 'analyze', 'stability', exp.name))} again to refresh it."))
            table = _read_csv(folder / "stability.csv")
            if table is not None and "verdict" in table:
                keep = [c for c in ("metric", "source_trial_id", "original", "n_seeds", "mean", "std", "gap",
                                    "gap_in_std", "verdict", "spearman") if c in table]
                heads = {"source_trial_id": "configuration", "original": "original (sweep)",
                         "n_seeds": "seeds", "mean": "re-seeded mean", "std": "re-seeded std",
                         "gap_in_std": "gap / std", "spearman": "Spearman ρ"}
                parts.append(html_table(table[keep], [heads.get(c, c) for c in keep],
                                        numeric={"original", "n_seeds", "mean", "std", "gap", "gap_in_std",
                                                 "spearman"}))
            for png_path in sorted(folder.glob("stability_*.png"), key=lambda f: (f.stem != "stability_val_loss",
                                                                                 f.stem)):
                png = _png(png_path)
                if png is not None:
                    parts.append(figure_html(png, f"stability plot {png_path.stem}",
                                             f"{esc(png_path.name)}: the sweep's result (x) against the same "
                                             f"configuration re-trained with new seeds (dots, mean ± std)."))
        return head + "".join(parts) + "</section>"

    def comparison(self) -> str:
        exp = self.exp
        head = '<section id="comparison"><h2>Family comparison</h2>'
        reruns = find_reruns(exp)
        folders = analysis_folders(exp, reruns)
        pngs = [(f / "compare.png", _png(f / "compare.png")) for f in folders if (f / "compare.png").is_file()]
        pngs = [(p, data) for p, data in pngs if data is not None]
        if not pngs:
            families = reruns[0].name if reruns else "FAMILY [FAMILY ...]"
            return head + missing(
                f"Not run yet: {cmd(command(exp, 'analyze', 'compare', families, '--sweep', exp.name))} draws "
                f"families of models (a re-run's seeds, students, ensembles, ...) as violins beside this sweep's "
                f"trials, into {cmd(exp.analysis_dir / 'compare.png')}; see "
                f"{cmd('babysweep analyze compare --help')}.") + "</section>"
        return head + "".join(figure_html(data, "family comparison", f"From {cmd(p)}.") for p, data in pngs) \
            + "</section>"

    def results(self) -> str:
        exp, space = self.exp, self.exp.space
        df = exp.table.copy()
        metric, mode = space.metric, space.mode
        if metric in df:
            key = pd.to_numeric(df[metric], errors="coerce").where(lambda v: np.isfinite(v))
            df = df.assign(_key=key).sort_values("_key", ascending=mode == "min", na_position="last",
                                                  kind="mergesort").drop(columns="_key")
        first = [c for c in ("trial_id", "state", "epoch", "val_loss", "best_val_loss", "test_loss") if c in df]
        if metric in df and metric not in first:
            first.append(metric)
        scores = scored_suites(df)
        searched = [f"config/{p}" for p in space.params if f"config/{p}" in df]
        varying = [c for c in df.columns if c.startswith("config/") and c not in searched
                   and df[c].astype(str).nunique() > 1]
        extra = [c for c in ("source_trial_id", "diverged", "wall_s") if c in df]
        cols = first + scores + searched + varying + extra
        view = df[cols].reset_index(drop=True)
        if "wall_s" in view:
            view["wall_s"] = pd.to_numeric(view["wall_s"], errors="coerce")
        names = {"trial_id": "trial", "val_loss": "val loss", "best_val_loss": "best val loss",
                 "test_loss": "test loss", "wall_s": "wall (s)", "source_trial_id": "source trial"}
        headers = [names.get(c, c[len("config/"):] if c.startswith("config/") else c) for c in cols]
        numeric = {c for c in cols if pd.api.types.is_numeric_dtype(view[c]) and view[c].dtype != bool}
        best = exp.best_trial()
        highlight = None
        if best is not None:
            hit = view.index[view["trial_id"].astype(str) == str(best["trial_id"])]
            highlight = int(hit[0]) if len(hit) else None
        note = (f'<p class="note">One row per trial, best {esc(metric)} first; hyperparameters as the trainable '
                f'receives them. Highlighted: the best trial ({esc(exp.best_rule())}). From '
                f'{cmd(exp.table_path)}.</p>')
        return ('<section id="results"><h2>Results table</h2>' + note
                + html_table(view, headers, titles={c: c for c in cols if c.startswith("config/")},
                             numeric=numeric, highlight=highlight) + "</section>")

    # ---------------------------------------------------------------- page
    def page(self) -> str:
        exp = self.exp
        sections = [self.settings(), self.compute(), self.anytime(), self.trials(), self.hyperparameters(),
                    self.correlation(), self.stability(), self.comparison(), self.results()]
        nav = [("settings", "settings"), ("compute", "compute"), ("anytime", "anytime curve"), ("trials", "trials"),
               ("hyperparameters", "hyperparameters"), ("correlation", "correlation"), ("stability", "stability"),
               ("comparison", "comparison"), ("results", "results table")]
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
        banner = ""
        if self.running:
            finished = int((exp.table["state"] == FINISHED).sum())
            banner = (f'<p class="running" id="running"><strong>This sweep is still running</strong> '
                      f'({esc(exp.driver())}): this report shows the {len(exp.table)} trials reported by {esc(stamp)} '
                      f'({finished} finished). Run {cmd(command(exp, "report", exp.name))} again when it ends.</p>')
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                f"<title>babysweep report: {esc(exp.name)}</title><style>{CSS}</style></head><body>"
                f"<header><h1>Sweep {esc(exp.name)}</h1><p class=\"meta\">babysweep report of {cmd(exp.path)}, "
                f"written {esc(stamp)}. Self-contained: every figure is embedded.</p>{banner}</header>"
                "<nav>" + "".join(f'<a href="#{i}">{esc(t)}</a>' for i, t in nav) + "</nav>"
                + "\n".join(sections) + "</body></html>\n")


def check_reportable(exp) -> None:
    """ReportError unless the sweep has at least one finished trial."""
    table = exp.table
    if not exp.has_table or table.empty or "state" not in table or not (table["state"] == FINISHED).any():
        counts = ", ".join(f"{v} {k}" for k, v in exp.state_counts().items()) if exp.has_table else ""
        raise ReportError(f"sweep {exp.name!r} has no finished trial yet ({counts or 'no trial has reported'}); "
                          f"nothing to report: run `babysweep status {exp.name}` to follow it")


def check_output_paths(exp) -> tuple[Path, Path]:
    """(report.html, the figures folder) of the experiment; ReportError (one line, nothing written) when either
    cannot be written: a folder where the page goes, a file where the figures folder goes, a figure's name taken by
    a folder, or an experiment folder this process may not write into. Checked before any figure is drawn."""
    import os

    out, figures = exp.path / REPORT_HTML, exp.path / FIGURES_DIR
    if out.is_dir() or (out.exists() and not out.is_file()):
        raise ReportError(f"{out}: exists and is not a file; the report is written there (move it away)")
    if figures.exists() and not figures.is_dir():
        raise ReportError(f"{figures}: exists and is not a folder; the report's figures are written there "
                          f"(move it away)")
    taken = [p for p in figures.glob("*") if p.is_dir() and p.suffix in (".png", ".pdf")] if figures.is_dir() else []
    if taken:
        raise ReportError(f"{taken[0]}: is a folder where the report writes a figure (move it away)")
    for folder in (exp.path, figures):
        if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
            raise ReportError(f"{folder}: not writable; the report and its figures are written there")
    return out, figures


def write_report(exp, compare_with=None) -> Path:
    """Write <experiment>/report.html (self-contained) and its figures as <experiment>/report/<stem>.png and .pdf;
    returns the HTML's path. ReportError (nothing written) when the sweep, or the comparison sweep, has no finished
    trial, or when the report's paths cannot be written (check_output_paths, before any figure is drawn); a damaged
    table is the SweepError of its reader (sweep/table.py), also before anything is written. A running sweep is
    reported as far as it has got, and the page says so."""
    check_reportable(exp)
    if compare_with is not None:
        if anytime_curve(compare_with.history).dropna(subset=["best"]).empty:
            raise ReportError(f"--compare-with {compare_with.name}: no validation loss reported yet "
                              f"({compare_with.history_path}); nothing to compare with")
    out, figures = check_output_paths(exp)
    report = Report(exp, compare_with)
    page = report.page()
    try:
        figures.mkdir(exist_ok=True)
        for stem, (png, pdf) in report.figures.items():
            for ext, data in (("png", png), ("pdf", pdf)):
                with atomic_path(figures / f"{stem}.{ext}") as tmp:
                    tmp.write_bytes(data)
        write_text(out, page)
    except OSError as e:
        raise ReportError(f"{exp.path}: cannot write the report ({e.strerror or e})") from None
    return out
