"""`babysweep report NAME`: one self-contained HTML page about a sweep, for a person to read.

    <experiment>/report.html      the page: every image embedded as a base64 PNG data URI, CSS inline, no script,
                                  no font or file fetched: it opens from disk in any browser, with no server and no
                                  network, and can be mailed as one file
    <experiment>/report/*.png|pdf the report's own figures, for papers and slides
    <experiment>/report/best_hparams.yaml   a fine-tuning sweep's best configuration, for finetune-all --hparams

Sections, in order: the sweep's settings (space file, algorithm, samples, eta, budget, brackets and rungs, resources,
the searched priors), the compute used; the anytime curve (the best of the space's metric against the cumulative
budget in epochs: the running minimum of val_loss for pretraining, the running maximum of a fine-tuning space's
score; with a second sweep's when `compare_with` is given, e.g. random search on the same space); every trial's
metric against epoch, coloured by bracket when the table records it, otherwise by the budget the trial reached (the
rung it was stopped at), the rungs as vertical lines; the metric against each searched hyperparameter (log axis
where the prior is log-scaled, the prior's density shaded behind); then, for a pretraining sweep, the correlation
plots (`babysweep analyze correlate`), the stability plots (`babysweep analyze stability`, in the re-run's analysis
folder) and the family comparison (compare.png, `babysweep analyze compare`) when those analyses have been run, and
otherwise the commands that produce them; for a fine-tuning sweep instead, its next step: the finetune-all command
that applies its best configuration, written as `report/best_hparams.yaml` (next_step.py); the results table, in
the trainable's units.

Nothing here runs an analysis or Ray: the page is drawn from the experiment's files. It is built in memory and
each file is written under a temporary name, then renamed (trainables.files), so a reader never sees half a report.
"""
from pathlib import Path

from sweep.table import FINISHED
from trainables.files import atomic_path, write_text

from .common import FIGURES_DIR, REPORT_HTML, ReportError, fmt  # noqa: F401  (the names callers import from here)
from .figures import anytime_curve, bracket_rungs  # noqa: F401
from .next_step import HPARAMS_FILE
from .sections import Report

__all__ = ["FIGURES_DIR", "REPORT_HTML", "Report", "ReportError", "anytime_curve", "bracket_rungs",
           "check_output_paths", "check_reportable", "write_report"]


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
    taken = [p for p in figures.glob("*") if p.is_dir() and (p.suffix in (".png", ".pdf") or p.name == HPARAMS_FILE)] \
        if figures.is_dir() else []
    if taken:
        raise ReportError(f"{taken[0]}: is a folder where the report writes a file (move it away)")
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
        metric, mode = compare_with.history_metric()
        if anytime_curve(compare_with.history, metric, mode).dropna(subset=["best"]).empty:
            raise ReportError(f"--compare-with {compare_with.name}: no {metric} reported yet "
                              f"({compare_with.history_path}); nothing to compare with")
    out, figures = check_output_paths(exp)
    report = Report(exp, compare_with)
    page = report.page()
    try:
        figures.mkdir(exist_ok=True)
        files = {f"{stem}.{ext}": data for stem, (png, pdf) in report.figures.items()
                 for ext, data in (("png", png), ("pdf", pdf))}
        for name, data in {**files, **report.files}.items():
            with atomic_path(figures / name) as tmp:
                tmp.write_bytes(data)
        write_text(out, page)
    except OSError as e:
        raise ReportError(f"{exp.path}: cannot write the report ({e.strerror or e})") from None
    return out
