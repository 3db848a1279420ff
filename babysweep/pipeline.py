"""The paper's pipeline in miniature, on babysweep's own public functions: a BOHB sweep, BLiMP-format pairs on
every trial's model, the correlation analysis, a stability re-run of the best configurations with new seeds and
the paper's teacher as a baseline, the stability analysis, and the report. `babysweep demo` runs it on the
built-in corpus; benchmarks/bench_science.py on real text.

    outcome = run_pipeline(SweepSpec(space=..., data=prepared, samples=16, name="demo", storage="runs"),
                           suites={"blimp_dir": "corpus/blimp"}, pairs_per_paradigm=50)
    outcome.findings        # the three headline findings, one line each

Every stage says what it did in one line (`log`), with its wall time, which `outcome.stage_seconds` keeps.
"""
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sweep.experiment import load_experiment
from sweep.launch import launch
from sweep.rerun import launch_rerun
from sweep.runtime import ray_session

from analysis.correlate import analyse, format_r2
from analysis.evaluate import evaluate_sweep
from analysis.stability import stability_report, stability_table


@dataclass
class Outcome:
    sweep: Path
    rerun: Path | None = None
    report: Path | None = None
    correlations: list = field(default_factory=list)   # analysis.correlate's results
    stability: object = None                           # the stability table (pandas) of validation loss
    stage_seconds: dict = field(default_factory=dict)
    findings: list = field(default_factory=list)


@contextmanager
def stage(name: str, outcome: Outcome, log):
    t0 = time.time()
    yield
    outcome.stage_seconds[name] = time.time() - t0
    log(f"[{name}] done in {outcome.stage_seconds[name]:.0f} s")


def run_pipeline(spec, suites: dict, pairs_per_paradigm=None, top_k=3, seeds=2, baseline=True, n_boot=2000,
                 overwrite=True, log=print, verbose=1, quiet_log=lambda m: None) -> Outcome:
    """Run every stage for the sweep `spec` (a sweep.kinds.SweepSpec); `suites`: the evaluate folders
    (blimp_dir, supplement_dir, ewok_dir). One Ray session serves every stage."""
    from sweep.status import sweep_status

    outcome = Outcome(sweep=Path(spec.storage) / str(spec.name))
    with ray_session(spec.address):
        with stage("sweep", outcome, log):
            outcome.sweep = launch(spec, overwrite=overwrite, verbose=verbose)
        name, storage = outcome.sweep.name, str(outcome.sweep.parent)
        counts = sweep_status(name, storage)["counts"]
        log(f"[sweep] {sum(counts.values())} trials: " + ", ".join(f"{v} {k}" for k, v in counts.items()))

        with stage("evaluate", outcome, log):
            done = evaluate_sweep(name, storage=storage, limit=pairs_per_paradigm, log=quiet_log, **suites)
            log(f"[evaluate] {len(done)} models scored on {', '.join(k[:-4] for k, v in suites.items() if v)}"
                + (f" ({pairs_per_paradigm} pairs per paradigm)" if pairs_per_paradigm else ""))

        with stage("correlate", outcome, log):
            exp = load_experiment(name, storage)
            outcome.correlations, _, _ = analyse(exp.table_path, exp.analysis_dir, n_boot=n_boot)

        with stage("rerun", outcome, log):
            outcome.rerun = launch_rerun(name, top_k=top_k, seeds=seeds, baseline=baseline, storage=storage,
                                         overwrite=overwrite, verbose=verbose, log=quiet_log)

    with stage("stability", outcome, log):
        source, rerun = load_experiment(name, storage), load_experiment(outcome.rerun.name, storage)
        stability_report(source.table, rerun.table, rerun.analysis_dir)
        outcome.stability = stability_table(source.table, rerun.table)  # validation loss's, for the findings

    with stage("report", outcome, log):
        from analysis.report import write_report

        outcome.report = write_report(source)
    outcome.findings = findings(outcome)
    return outcome


def findings(outcome: Outcome) -> list[str]:
    """The headline findings: R² of test loss and of each suite on validation loss (with their intervals), and the
    stability verdicts of the re-run configurations."""
    lines = []
    for r in outcome.correlations:
        if "skipped" in r:
            lines.append(f"{r['label']}: not fitted ({r['skipped']})")
        else:
            lines.append(f"{r['label']}: {format_r2(r)}")
    table = outcome.stability
    if table is not None and len(table):
        judged = table[table["verdict"] != "-"]
        regressed = int((judged["verdict"] == "regressed").sum())
        gaps = ", ".join(f"{g:+.3f}" for g in judged["gap"] if not math.isnan(g))
        lines.append(f"stability: {regressed} of {len(judged)} best configurations regressed when re-trained from "
                     f"new initialisations (validation loss gap, re-runs minus original: {gaps})")
    return lines
