"""The report's sections, in the order the page shows them: `Report` builds each as HTML in memory, with its
figures ({stem: (png bytes, pdf bytes)}), from the experiment's files alone."""
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sweep.selection import best_summary, ranked_column
from sweep.table import FINISHED, parse_bool

from .. import provenance
from .common import EPS, FIGURES_DIR, LOG_SCALED, fmt, hours_text, scored_suites
from .figures import (Colours, anytime_curve, describe_prior, figure_bytes, metric_label, plot_anytime,
                      plot_hyperparameters, plot_trials)
from .html import (CSS, _png, _read_csv, _stale, analysis_folders, cmd, command, esc, figure_html, find_reruns,
                   html_table, kv_table, missing, storage_flag)


def intervals(table: pd.DataFrame, name: str, spec: str) -> list[str]:
    """"[lo, hi]" of correlate.csv's <name>_lo and <name>_hi columns, a row at a time ("—" where there is none, or
    in a table written before the column)."""
    nan = [math.nan] * len(table)
    return [f"[{fmt(lo, spec)}, {fmt(hi, spec)}]" if pd.notna(lo) else "—"
            for lo, hi in zip(table.get(f"{name}_lo", nan), table.get(f"{name}_hi", nan))]


class Report:
    """Builds the page in memory: `sections` (HTML strings) and `figures` ({stem: (png bytes, pdf bytes)})."""

    def __init__(self, exp, compare_with=None):
        self.exp, self.other = exp, compare_with
        self.figures = {}
        self.files = {}  # {name: bytes}: the other files written into the figures folder (next_step's --hparams)
        self.running = exp.driver().startswith("running")
        self.colours = Colours(exp)
        self.rungs, self.brackets, self.rung_source = exp.spec.rung_budgets(exp.space)

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
            rows.append(("best trial", esc(f"{best['trial_id']}: {best_summary(best, exp.space.metric, exp.keep)}; "
                                           f"{config}")))
        else:
            rows.append(("best trial", esc(f"none yet ({exp.best_rule()})")))
        return '<section id="compute"><h2>Compute used</h2>' + kv_table(rows) + "</section>"

    def anytime(self) -> str:
        exp, other = self.exp, self.other
        metric, mode = exp.history_metric()
        label, best = metric_label(metric), "highest" if mode == "max" else "lowest"
        head = f'<section id="anytime"><h2>Best {esc(label)} against budget (anytime curve)</h2>'
        if anytime_curve(exp.history, metric, mode).dropna(subset=["best"]).empty:
            return head + missing(f"No history yet ({esc(exp.history_path)} holds no {esc(metric)}).") + "</section>"
        caption = (f"The step line is the best ({best}) {esc(label)} any trial had reported once the trials together "
                   f"had used the budget on the x axis (epochs summed over trials, in the order the reports arrived); "
                   f"dots are single reports. A curve that {'rises' if mode == 'max' else 'drops'} early and "
                   f"flattens found good configurations cheaply.")
        text = ""
        if other is not None:
            a = anytime_curve(exp.history, metric, mode).dropna(subset=["best"])
            b = anytime_curve(other.history, *other.history_metric()).dropna(subset=["best"])
            if not b.empty:
                common = min(a["budget"].iloc[-1], b["budget"].iloc[-1])
                at = [c[c["budget"] <= common + EPS]["best"] for c in (a, b)]
                at = [s.iloc[-1] if len(s) else math.nan for s in at]
                text = (f'<p>At the common budget of {esc(fmt(common))} epochs: {esc(exp.name)} best '
                        f'{esc(fmt(at[0]))}, {esc(other.name)} best {esc(fmt(at[1]))}.</p>')
        fig = plot_anytime(exp, other)
        return head + self.add_figure("anytime", fig, f"best {label} against cumulative budget", caption) \
            + text + "</section>"

    def trials(self) -> str:
        exp = self.exp
        label = metric_label(exp.history_metric()[0])
        head = f'<section id="trials"><h2>Every trial\'s {esc(label)}</h2>'
        if exp.history.empty:
            return head + missing(f"No history yet ({esc(exp.history_path)} is absent or empty).") + "</section>"
        how = ("by bracket" if self.colours.by == "bracket" else
               "by the budget each trial reached (the table does not record HyperBand brackets: a trial stopped at "
               "a rung ends there)")
        caption = (f"{esc(label[0].upper() + label[1:])} at each report, one line per trial, coloured {how}. Dashed "
                   f"lines: the rungs ({esc(self.rung_source)}), where the scheduler compares trials and stops the "
                   f"worse ones. The thick grey line is the best trial.")
        fig = plot_trials(exp, self.colours, self.rungs)
        return head + self.add_figure("trials", fig, f"{label} against epoch, every trial", caption) \
            + "</section>"

    def hyperparameters(self) -> str:
        exp = self.exp
        label, mode = metric_label(exp.metric), exp.metric_and_mode()[1]
        which = "the kept model's" if exp.keep == "best" else "its final"
        caption = (f"Each dot is one trial: {which} {esc(label)} against its value of the hyperparameter (in "
                   "the units the trainable receives). Log axis where the prior is log-scaled. The grey shading is "
                   "the prior the searcher samples from (for log-scaled priors, the density of ln x; for integer "
                   "and choice parameters, each value's probability), drawn from the space's definition. Trials "
                   f"stopped at an early rung have {'lower scores' if mode == 'max' else 'higher losses'} than they "
                   "would have reached: compare dots of the same colour.")
        fig = plot_hyperparameters(exp, self.colours)
        return (f'<section id="hyperparameters"><h2>{esc(label[0].upper() + label[1:])} against each '
                f'hyperparameter</h2>'
                + self.add_figure("hyperparameters", fig, f"{label} against each hyperparameter", caption)
                + "</section>")

    def analyses(self) -> list[tuple]:
        """(id, navigation title, HTML) of the sections after the sweep's own figures: for a fine-tuning sweep, its
        next step (next_step.py: finetune-all with its best configuration); for any other, the analyses of its
        models (BLiMP against validation loss, the re-runs' stability, the family comparison), each shown when it
        has been run, else the command that runs it."""
        if self.exp.finetunes:
            from .next_step import next_step_section

            return [("next", "next step", next_step_section(self))]
        return [("correlation", "correlation", self.correlation()), ("stability", "stability", self.stability()),
                ("comparison", "comparison", self.comparison())]

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
                "95% CI": intervals(table, "r2", ".3f"),
                "slope": table.get("slope"), "slope 95% CI": intervals(table, "slope", ".3g"),
                "p": table.get("p"),
                "sign": ["⚠ against the paper's" if str(v).lower() == "true" else ""
                         for v in table.get("against_expectation", pd.Series([None] * len(table)))],
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

    def rerun_folders(self) -> tuple[list, list]:
        """(this sweep's re-runs, the analysis folders to look in: its own, then each re-run's)."""
        reruns = find_reruns(self.exp)
        return reruns, analysis_folders(self.exp, reruns)

    def stability(self) -> str:
        exp = self.exp
        head = '<section id="stability"><h2>Stability of the best configurations (re-runs)</h2>'
        reruns, folders = self.rerun_folders()
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
        reruns, folders = self.rerun_folders()
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
        if metric in df:  # ranked as the best trial is: by the kept model's value with keep=best
            key = pd.to_numeric(ranked_column(df, metric, exp.keep), errors="coerce").where(lambda v: np.isfinite(v))
            df = df.assign(_key=key).sort_values("_key", ascending=mode == "min", na_position="last",
                                                  kind="mergesort").drop(columns="_key")
        first = [c for c in ("trial_id", "state", "epoch", "val_loss", "best_val_loss", "test_loss") if c in df]
        first += [c for c in (metric, f"best_{metric}", f"checkpoint_{metric}") if c in df and c not in first]
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
                 "test_loss": "test loss", "wall_s": "wall (s)", "source_trial_id": "source trial",
                 **{s: provenance.label(df, s, s) for s in scores}}  # a --limit run's scores say so
        headers = [names.get(c, c[len("config/"):] if c.startswith("config/") else c) for c in cols]
        numeric = {c for c in cols if pd.api.types.is_numeric_dtype(view[c]) and view[c].dtype != bool}
        best = exp.best_trial()
        highlight = None
        if best is not None:
            hit = view.index[view["trial_id"].astype(str) == str(best["trial_id"])]
            highlight = int(hit[0]) if len(hit) else None
        ranked = f"best {metric} of the kept model" if exp.keep == "best" else f"best {metric}"
        note = (f'<p class="note">One row per trial, {esc(ranked)} first; hyperparameters as the trainable '
                f'receives them. Highlighted: the best trial ({esc(exp.best_rule())}). From '
                f'{cmd(exp.table_path)}.</p>')
        for suite in scores:  # how each suite's scores were made (analysis/provenance.py)
            made = "; ".join(provenance.describe(p) for p in provenance.provenances(df, suite))
            note += f'<p class="note">{esc(suite)} scores: {esc(made)}.</p>'
        return ('<section id="results"><h2>Results table</h2>' + note
                + html_table(view, headers, titles={c: c for c in cols if c.startswith("config/")},
                             numeric=numeric, highlight=highlight) + "</section>")

    # ---------------------------------------------------------------- page
    def page(self) -> str:
        exp = self.exp
        analyses = self.analyses()
        sections = [self.settings(), self.compute(), self.anytime(), self.trials(), self.hyperparameters(),
                    *(html for _, _, html in analyses), self.results()]
        nav = [("settings", "settings"), ("compute", "compute"), ("anytime", "anytime curve"), ("trials", "trials"),
               ("hyperparameters", "hyperparameters"), *((i, t) for i, t, _ in analyses), ("results", "results table")]
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


