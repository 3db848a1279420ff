"""Does validation loss explain the downstream scores? The loss–BLiMP correlation of the BabyLlama-2 paper
(section 6, Fig. 2): over the sweep's models, linear regressions of every suite score the table has (BLiMP
filtered, BLiMP supplement, EWoK, the built-in pairs, any suite of the user's: `sweep.table.suite_columns`) and
of test loss on validation loss, each with R² (bootstrap 95% interval), slope (t interval), p and n.

Pure functions on tables (pandas DataFrames in the results-table format of DESIGN.md): they return numbers,
matplotlib figures, and, in `write_report`, files. Any table with a `val_loss` column and one of the y columns
works, so a table that did not come from a babysweep sweep can be analysed the same way."""
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from sweep.display import fmt
from sweep.table import ANY_TABLE, _some, parse_bool, suite_columns
from sweep.table import read_table as read_results_table
from trainables.files import write_csv, write_text

from . import provenance
from .errors import AnalysisError  # noqa: F401  (also imported from here)


# (y, x, label): each y regressed on x. The suites of BabyLM's pipeline; `pairs_for(df)` takes every suite a
# table has (its labels from SUITE_LABELS, else the column's name) and test loss
PAIRS = [("blimp_filtered", "val_loss", "BLiMP filtered"),
         ("blimp_supplement", "val_loss", "BLiMP supplement"),
         ("test_loss", "val_loss", "test loss")]
SUITE_LABELS = {"blimp_filtered": "BLiMP filtered", "blimp_supplement": "BLiMP supplement", "ewok": "EWoK",
                "builtin_pairs": "built-in pairs"}

MIN_POINTS, CI_LEVEL = 3, 0.95

# axis labels of the columns babysweep writes; any other column is labelled with its name
AXIS_LABELS = {
    "val_loss": "validation loss (nats per token)",
    "best_val_loss": "best validation loss (nats per token)",
    "test_loss": "test loss (nats per token)",
    "blimp_filtered": "BLiMP filtered (mean accuracy over paradigms)",
    "blimp_supplement": "BLiMP supplement (mean accuracy over tasks)",
    "ewok": "EWoK (mean accuracy over domains)",
    "builtin_pairs": "built-in pairs (mean accuracy over paradigms)",
}

SHORT_NAMES = {"val_loss": "validation loss", "best_val_loss": "best validation loss", "test_loss": "test loss"}

TABLE_COLUMNS = ["label", "y", "x", "n", "left_out", "r2", "r2_lo", "r2_hi", "slope", "slope_lo", "slope_hi",
                 "intercept", "r", "p", "stderr", "n_boot", "boot_used", "seed", "against_expectation", "skipped",
                 "provenance"]


def expected_slope_sign(y_col: str) -> int:
    """The sign of the paper's finding for `y_col` on validation loss: +1 for a loss, -1 for a score (lower loss,
    higher score). A fit of the other sign (models against it, or at chance) is flagged before its R² is read."""
    return 1 if y_col.endswith("loss") else -1


def against_expectation(fit) -> bool:
    slope = fit.get("slope")
    return bool(slope and math.isfinite(slope) and (slope > 0) != (expected_slope_sign(fit["y"]) > 0))


# ---------------------------------------------------------------------------------------------------- input

def read_table(path) -> pd.DataFrame:
    """A results table (CSV, any columns) as a DataFrame; a one-line error naming the file when it cannot be read
    (an empty or unparsable file, or a value the results-table format does not allow in a column it knows: a score
    outside [0, 1], a loss that is not a number >= 0: sweep.table.read_table's SweepError)."""
    path = Path(path)
    if not path.exists():
        raise AnalysisError(f"{path}: no such results table")
    if path.is_dir():
        raise AnalysisError(f"{path}: is a folder, not a results table (CSV file)")
    try:
        df = read_results_table(path, ANY_TABLE)
    except OSError as e:
        raise AnalysisError(f"{path}: cannot read ({e.strerror or e})") from None
    return df


def numeric(df: pd.DataFrame, column: str) -> np.ndarray:
    """A column as floats; text that is not a number reads as missing (NaN)."""
    return pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)


def has_values(df: pd.DataFrame, column: str) -> bool:
    return column in df.columns and bool(np.isfinite(numeric(df, column)).any())


def pairs_for(df: pd.DataFrame) -> list:
    """(y, "val_loss", label) for every suite-score column of the table (sweep.table.suite_columns: the known
    BabyLM suites, EWoK, and any column S with S/<paradigm> columns), then test loss."""
    suites = [(s, "val_loss", SUITE_LABELS.get(s, s)) for s in suite_columns(df.columns)]
    return suites + [p for p in PAIRS if p[0] not in SUITE_LABELS]


def present_pairs(df: pd.DataFrame, pairs=None) -> list:
    """The pairs (default: pairs_for(df)) whose y and x columns both exist and hold at least one value."""
    return [p for p in (pairs_for(df) if pairs is None else pairs) if has_values(df, p[0]) and has_values(df, p[1])]


def check_table(df: pd.DataFrame, source, pairs=None) -> list:
    """The pairs (default: pairs_for(df)) the table can be analysed on, or an AnalysisError naming `source` and
    what is missing."""
    named = pairs is None
    pairs = pairs_for(df) if named else pairs
    xs = sorted({x for _, x, _ in pairs})
    for x in xs:
        if x not in df.columns:
            raise AnalysisError(f"{source}: no {x} column (the table has {len(df.columns)} columns: "
                                f"{_some(df.columns)})")
        if not has_values(df, x):
            raise AnalysisError(f"{source}: the {x} column holds no numbers ({len(df)} rows)")
    ys = [y for y, _, _ in pairs]
    if not any(y in df.columns for y in ys):
        known = [y for y, _, _ in PAIRS] if named else ys
        other = " nor any other suite score (a column S with S/<paradigm> columns)" if named else ""
        raise AnalysisError(f"{source}: none of the columns {', '.join(known)}{other} (suite scores are added by "
                            f"evaluation; test_loss by trials that finish)")
    found = present_pairs(df, pairs)
    if not found:
        raise AnalysisError(f"{source}: no values yet in {', '.join(y for y in ys if y in df.columns)} "
                            f"(no trial evaluated or finished)")
    return found


# ---------------------------------------------------------------------------------------------------- filters

def scored_validation_loss(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """x is the validation loss of the model each score comes from: evaluation records it as scored_val_loss (the
    report its checkpoint was taken at: the last, or the best with --keep best); rows without it keep val_loss."""
    if not has_values(df, "scored_val_loss"):
        return df, []
    out = df.copy()
    scored = pd.to_numeric(out["scored_val_loss"], errors="coerce")
    differ = int((scored.notna() & (scored != pd.to_numeric(out["val_loss"], errors="coerce"))).sum())
    out["val_loss"] = scored.where(scored.notna(), out["val_loss"])
    return out, [f"validation loss: that of the checkpoint each score comes from (scored_val_loss; differs from "
                 f"the last report's for {differ} trial(s))"]


def select_trials(df: pd.DataFrame, max_budget_only=False, drop_diverged=True) -> tuple[pd.DataFrame, list[str]]:
    """The trials to analyse, and notes saying what was filtered and how many rows.

    drop_diverged: leave out trials marked `diverged` (a non-finite loss ended them).
    max_budget_only: keep only trials whose `epoch` (budget used) is the highest any remaining trial reached;
    HyperBand stops most trials early, and a model trained 1 epoch is not the same kind of point as one
    trained 27. Diverged trials are dropped first, so the maximum is the one reached by a sound trial."""
    notes = [f"{len(df)} rows in the table"]
    out = df
    if drop_diverged:
        if "diverged" in out.columns:
            mask = out["diverged"].map(parse_bool).to_numpy(dtype=bool)
            notes.append(f"dropped {int(mask.sum())} diverged trial(s) (diverged = True); "
                         f"{len(out) - int(mask.sum())} rows left")
            out = out[~mask]
        else:
            notes.append("no diverged column: no trial dropped as diverged")
    else:
        n = int(out["diverged"].map(parse_bool).sum()) if "diverged" in out.columns else 0
        notes.append(f"diverged trials kept ({n} in the table); their non-finite losses are left out of the fits")
    if max_budget_only:
        if "epoch" not in out.columns:
            raise AnalysisError("--max-budget-only: the table has no epoch column (budget used by each trial)")
        epoch = numeric(out, "epoch")
        finite = np.isfinite(epoch)
        if not finite.any():
            raise AnalysisError("--max-budget-only: the epoch column holds no numbers")
        top = float(epoch[finite].max())
        keep = finite & (epoch >= top - 1e-6 * max(1.0, abs(top)))
        notes.append(f"kept the {int(keep.sum())} of {len(out)} trial(s) trained to the maximum budget "
                     f"(epoch {top:g})")
        out = out[keep]
    else:
        notes.append("all budgets kept (trials stopped early by the scheduler included)")
    return out, notes


# ---------------------------------------------------------------------------------------------------- numbers

def _clean(x, y) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(pd.to_numeric(pd.Series(np.asarray(x).ravel()), errors="coerce"), dtype=float)
    y = np.asarray(pd.to_numeric(pd.Series(np.asarray(y).ravel()), errors="coerce"), dtype=float)
    if x.shape != y.shape:
        raise AnalysisError(f"x and y differ in length ({x.size} and {y.size})")
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]


def bootstrap_r2(x, y, n_boot=2000, seed=0, chunk_cells=2_000_000) -> np.ndarray:
    """R² of `n_boot` bootstrap resamples (rows drawn with replacement; numpy Generator seeded with `seed`).
    A resample in which x or y takes a single value has no R² and is left out of the returned array."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = x.size
    rng = np.random.default_rng(seed)
    out = []
    per = max(1, chunk_cells // max(n, 1))  # resamples per chunk: bounded memory on large tables
    done = 0
    while done < n_boot:
        k = min(per, n_boot - done)
        idx = rng.integers(0, n, size=(k, n))
        xs, ys = x[idx], y[idx]
        xc = xs - xs.mean(axis=1, keepdims=True)
        yc = ys - ys.mean(axis=1, keepdims=True)
        sxy = np.einsum("ij,ij->i", xc, yc)
        sxx = np.einsum("ij,ij->i", xc, xc)
        syy = np.einsum("ij,ij->i", yc, yc)
        # exact test for a degenerate resample (a mean of equal floats need not equal them exactly)
        ok = (xs.max(axis=1) > xs.min(axis=1)) & (ys.max(axis=1) > ys.min(axis=1))
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.minimum(sxy[ok] ** 2 / (sxx[ok] * syy[ok]), 1.0)
        out.append(r2)
        done += k
    return np.concatenate(out) if out else np.empty(0)


def regress(x, y, n_boot=2000, seed=0) -> dict:
    """Least-squares fit y = intercept + slope * x (scipy.stats.linregress) with a bootstrap interval of R².

    Returns r2, r (Pearson), slope with slope_lo, slope_hi (its 95% t interval), intercept, stderr (of the
    slope), p (two-sided, zero slope), n (pairs with both values finite; the others are left out), and r2_lo,
    r2_hi: the percentile 95% interval of R² over `n_boot` resamples of the rows (NaN when n_boot is 0), n_boot,
    boot_used (the resamples that had an R²: one where x or y takes a single value has none), seed.
    AnalysisError when fewer than 3 points remain or x or y is constant."""
    from scipy import stats

    if n_boot < 0:
        raise AnalysisError(f"--bootstrap {n_boot}: the number of resamples cannot be negative")
    x, y = _clean(x, y)
    n = int(x.size)
    if n < MIN_POINTS:
        raise AnalysisError(f"only {n} point{'s' if n != 1 else ''} (need {MIN_POINTS})")
    if np.ptp(x) == 0:
        raise AnalysisError(f"x is constant ({x[0]:g} for all {n} points): no slope to fit")
    if np.ptp(y) == 0:
        raise AnalysisError(f"y is constant ({y[0]:g} for all {n} points): R² is undefined")
    fit = stats.linregress(x, y)
    r = float(fit.rvalue)
    boot = bootstrap_r2(x, y, n_boot=n_boot, seed=seed) if n_boot else np.empty(0)
    tail = 100 * (1 - CI_LEVEL) / 2
    lo, hi = (np.percentile(boot, [tail, 100 - tail]) if boot.size else (math.nan, math.nan))
    half = float(stats.t.ppf(0.5 + CI_LEVEL / 2, n - 2)) * float(fit.stderr)  # the slope's t interval, n - 2 df
    return {"r2": r * r, "r": r, "slope": float(fit.slope), "intercept": float(fit.intercept),
            "slope_lo": float(fit.slope) - half, "slope_hi": float(fit.slope) + half,
            "stderr": float(fit.stderr), "p": float(fit.pvalue), "n": n,
            "r2_lo": float(lo), "r2_hi": float(hi), "n_boot": int(n_boot), "boot_used": int(boot.size),
            "seed": seed}


def correlate(df: pd.DataFrame, pairs=None, n_boot=2000, seed=0, only_present=True) -> list[dict]:
    """One result per pair (default: pairs_for(df), every suite of the table and test loss): {"y", "x", "label",
    "n", "left_out"} plus either regress()'s numbers or {"skipped": "only N points (need 3)"} (or another reason
    the fit is impossible).

    With only_present (the default) a pair appears only when both its columns exist and hold a value; pass
    only_present=False with pairs chosen on the unfiltered table so that a pair emptied by the filters is
    reported as skipped rather than left out. Every pair uses the same bootstrap seed."""
    results = []
    pairs = pairs_for(df) if pairs is None else pairs
    for y_col, x_col, label in (present_pairs(df, pairs) if only_present else pairs):
        row = {"label": label, "y": y_col, "x": x_col}
        if x_col not in df.columns or y_col not in df.columns:
            missing = x_col if x_col not in df.columns else y_col
            results.append({**row, "n": 0, "left_out": len(df), "skipped": f"no {missing} column"})
            continue
        x, y = numeric(df, x_col), numeric(df, y_col)
        ok = np.isfinite(x) & np.isfinite(y)
        row.update(n=int(ok.sum()), left_out=int(len(df) - ok.sum()))
        try:  # a suite's scores made two ways (analysis/provenance.py) are not one measure: no fit mixes them
            if y_col in suite_columns(df.columns):
                row.update(label=provenance.label(df[ok], y_col, label),
                           provenance=provenance.check_one(df[ok], y_col, f"{label} on {x_col}"))
            row.update(regress(x[ok], y[ok], n_boot=n_boot, seed=seed))
            row["against_expectation"] = against_expectation(row)
        except AnalysisError as e:
            row["skipped"] = str(e)
        results.append(row)
    return results


def stem(result) -> str:
    """File name stem of a pair's plot: <y>_vs_<x>, anything but letters, digits, '.', '-', '_' made '_'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"{result['y']}_vs_{result['x']}")


# ---------------------------------------------------------------------------------------------------- figures

def _decimals(*values) -> int:
    """2 decimals, more when needed to tell a value from 1 (R² = 0.999 is not 1.00)."""
    d = 2
    for v in values:
        while d < 6 and np.isfinite(v) and v < 1 and round(v, d) >= 1:
            d += 1
    return d


def format_r2(fit) -> str:
    """'R² = 0.86 [0.80, 0.90], n = 265' (no interval when there was no bootstrap)."""
    r2, lo, hi = fit["r2"], fit.get("r2_lo", math.nan), fit.get("r2_hi", math.nan)
    d = _decimals(r2, lo, hi)
    ci = f" [{lo:.{d}f}, {hi:.{d}f}]" if np.isfinite(lo) and np.isfinite(hi) else ""
    return f"R² = {r2:.{d}f}{ci}, n = {fit['n']}"


def axis_label(column: str) -> str:
    return AXIS_LABELS.get(column, column)


def plot_regression(x, y, fit, xlabel, ylabel, title):
    """A scatter of one point per trial with the least-squares line, R² and its interval in the legend
    (the layout of the paper's Fig. 2). Returns a matplotlib Figure (not attached to pyplot: no GUI, no
    global state; saving uses the Agg and PDF renderers)."""
    from matplotlib.figure import Figure

    x, y = _clean(x, y)
    fig = Figure(figsize=(5.0, 4.0), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(x, y, s=14, alpha=0.7, color="tab:blue", edgecolors="none", label="trials", zorder=2)
    if x.size:
        lo, hi = float(x.min()), float(x.max())
        pad = 0.03 * (hi - lo)
        xs = np.array([lo - pad, hi + pad])
        ax.plot(xs, fit["intercept"] + fit["slope"] * xs, color="tab:red", lw=1.6, zorder=3,
                label=f"fit: {format_r2(fit)}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, zorder=0)
    ax.legend(loc="best", fontsize=8, frameon=True)
    return fig


def plot_all(df: pd.DataFrame, results) -> dict:
    """{stem: Figure} for every fitted (not skipped) result."""
    figures = {}
    for res in results:
        if "skipped" in res:
            continue
        figures[stem(res)] = plot_regression(
            numeric(df, res["x"]), numeric(df, res["y"]), res, axis_label(res["x"]), axis_label(res["y"]),
            f"{res['label']} vs {SHORT_NAMES.get(res['x'], res['x'])}")
    return figures


# ---------------------------------------------------------------------------------------------------- report

EXPLANATION = """\
How to read this:

- **Suite scores.** `blimp_filtered`, `blimp_supplement`, `builtin_pairs` and any other minimal-pair suite are the \
mean, over the paradigms (BLiMP) or tasks (supplement) of the suite, of each paradigm's accuracy: the share of its \
minimal pairs in which the model gives the grammatical sentence the higher probability (a tie as the ties_rule \
column says). `ewok` is the mean over EWoK's domains of the share of items whose right target is the more \
probable continuation of the context. Every paradigm or domain weighs the same, whatever its number of items.
- **R²** is the share of the variance of y across the trials that a straight line in validation loss explains \
(the square of Pearson's r). R² near 1: the validation loss alone predicts y; near 0: it says little about y. \
It measures association across the sweep's models, not that lowering the loss causes the score.
- **95% CI** {ci}
- **n** counts the trials with both values; trials without one (not evaluated, stopped before the test loss, \
non-finite loss) are left out of that fit. **slope** is the change of y per nat of validation loss [its 95% t \
interval]; **p** tests a zero slope (two-sided, scipy.stats.linregress).
"""


def markdown_table(results) -> str:
    lines = ["| y | x | n | R² | 95% CI | slope | intercept | p |", "|---|---|---:|---:|---|---:|---:|---:|"]
    for r in results:
        if "skipped" in r:
            lines.append(f"| {r['label']} (`{r['y']}`) | `{r['x']}` | {r.get('n', 0)} | "
                         f"skipped: {r['skipped']} | | | | |")
            continue
        d = _decimals(r["r2"], r["r2_lo"], r["r2_hi"]) + 1
        ci = (f"[{r['r2_lo']:.{d}f}, {r['r2_hi']:.{d}f}]" if math.isfinite(r["r2_lo"]) else "— (no bootstrap)")
        slope = f"{fmt(r['slope'])} [{fmt(r.get('slope_lo'))}, {fmt(r.get('slope_hi'))}]" + (
            f" ⚠ against expectation (expected {'> 0' if expected_slope_sign(r['y']) > 0 else '< 0'})"
            if r.get("against_expectation") else "")
        lines.append(f"| {r['label']} (`{r['y']}`) | `{r['x']}` | {r['n']} | {r['r2']:.{d}f} | {ci} | {slope} | "
                     f"{fmt(r['intercept'])} | {fmt(r['p'], '.3g')} |")
    flagged = [r["label"] for r in results if r.get("against_expectation")]
    if flagged:
        lines.append("")
        lines.append(f"⚠ {', '.join(flagged)}: the slope has the sign against the paper's finding (a score falling "
                     f"as the loss falls, or a loss rising): the R² measures an association the other way round.")
    return "\n".join(lines)


def analyse(table_path, out_dir, max_budget_only=False, drop_diverged=True, n_boot=2000, seed=0, table=None):
    """The whole analysis of a results table (what `babysweep analyze correlate` runs), its report and plots
    written into out_dir: (results, notes on the trials analysed, {file name: path}). `table`: the table of
    `table_path` already read (a sweep's, `Experiment.table`: checked, its evaluation merged); default: read here."""
    df, scored_notes = scored_validation_loss(read_table(table_path) if table is None else table)
    pairs = check_table(df, table_path)
    try:
        selected, notes = select_trials(df, max_budget_only=max_budget_only, drop_diverged=drop_diverged)
    except AnalysisError as e:
        raise AnalysisError(f"{table_path}: {e}") from None
    notes += scored_notes
    results = correlate(selected, pairs=pairs, n_boot=n_boot, seed=seed, only_present=False)
    paths = write_report(results, notes, out_dir, plot_all(selected, results), source=table_path)
    return results, notes, paths


def write_report(results, notes, out_dir, figures, source=None) -> dict:
    """Write correlate.md, correlate.csv and <y>_vs_<x>.png/.pdf for each figure into out_dir (created if
    needed); each file under a temporary name first, then renamed. Plots left by an earlier run for a pair
    now skipped are removed. Returns {file name: path}."""
    from .output import output_folder, save_figure

    out = output_folder(out_dir)
    paths = {}
    try:
        for name, fig in figures.items():
            paths.update(save_figure(fig, out, name))
        for r in results:
            if "skipped" in r:
                for ext in ("png", "pdf"):
                    (out / f"{stem(r)}.{ext}").unlink(missing_ok=True)

        fitted = [r for r in results if "skipped" not in r]
        boot = next((r for r in fitted if r.get("n_boot")), None)
        md = ["# Validation loss vs downstream scores", ""]
        if source:
            md += [f"Results table: `{source}`", ""]
        md += [markdown_table(results), "", "Trials analysed:", ""]
        md += [f"- {n}" for n in notes] + [""]
        md += provenance.section(results)
        md.append(EXPLANATION.format(ci=(
            f"is a percentile bootstrap interval of R²: the trials are resampled with replacement "
            f"{boot['n_boot']} times (seed {boot['seed']}) and the fit redone on each resample."
            if boot else "of R²: none (no bootstrap was run).")))
        plots = [f"- {r['label']}: [{stem(r)}.png]({stem(r)}.png), [{stem(r)}.pdf]({stem(r)}.pdf)"
                 for r in results if stem(r) in figures]
        skipped = [f"- {r['label']}: no plot (skipped: {r['skipped']})" for r in results if "skipped" in r]
        md += ["Plots:", ""] + (plots + skipped or ["- none"]) + [""]
        md_path = out / "correlate.md"
        text = "\n".join(md)
        write_text(md_path, text)
        paths[md_path.name] = md_path

        table = pd.DataFrame([{c: r.get(c) for c in TABLE_COLUMNS} for r in results], columns=TABLE_COLUMNS)
        table["selection"] = "; ".join(notes)
        if source:
            table["source"] = str(source)
        csv_path = out / "correlate.csv"
        write_csv(csv_path, table)
        paths[csv_path.name] = csv_path
    except OSError as e:
        raise AnalysisError(f"--out {out}: cannot write ({e.strerror or e})") from None
    return paths
