"""The scripting API: each function is what one `babysweep` command does, taking names and plain values and
returning the result object a script goes on with (an `Experiment`, a table, a `Comparison`, a path). The CLI
(babysweep/cli/) calls these, or the library functions they wrap, and prints.

    import babysweep

    exp = babysweep.launch(space="search_spaces/tiny_demo.yaml", data="runs/demo-data/prepared-100000-seed0",
                           samples=4, name="mine", storage="runs")
    babysweep.evaluate("mine", storage="runs", blimp_dir="runs/demo-data/corpus-v3-100000-seed0/blimp")
    fits = babysweep.correlate(babysweep.load_experiment("mine", "runs"))
    babysweep.report("mine", storage="runs")

Errors meant for the user derive from `babysweep.UserError` (one line, naming the thing and the problem).
"""
from __future__ import annotations

from pathlib import Path

from sweep.experiment import Experiment, list_experiments, load_experiment  # noqa: F401  (re-exported)
from sweep.folder import DEFAULT_STORAGE
from sweep.kinds import ExperimentSpec, SweepSpec
from trainables.errors import UserError  # noqa: F401  (re-exported)


def _experiment(exp_or_name, storage) -> Experiment:
    return exp_or_name if isinstance(exp_or_name, Experiment) else load_experiment(exp_or_name, storage)


def launch(spec: ExperimentSpec | None = None, /, *, overwrite=False, verbose=1, **fields) -> Experiment:
    """Start a new experiment and run it to its end: `spec` (a SweepSpec or another kind's spec), or a SweepSpec
    of `fields` (space=, data=, samples=, name=, storage=, algo=, ...). Returns the experiment."""
    from sweep.launch import launch as launch_spec

    if spec is None:
        spec = SweepSpec(**fields)
    elif fields:
        raise TypeError(f"launch: give a spec or its fields, not both (got {', '.join(sorted(fields))})")
    return load_experiment(launch_spec(spec, overwrite=overwrite, verbose=verbose).name, spec.storage)


def resume(name, storage=DEFAULT_STORAGE, **options) -> Experiment:
    """Continue the stopped experiment `name` from its checkpoints (options: retry_errored, address, verbose,
    max_failures, fail_fast). Returns the experiment."""
    from sweep.resume import resume as resume_experiment

    resume_experiment(name, storage, **options)
    return load_experiment(name, storage)


def rerun(name, storage=DEFAULT_STORAGE, **options) -> Experiment:
    """Re-train the best configurations of the sweep `name` with new seeds (options: top_k, seeds, trials,
    baseline, rerun_name, reseed, ...): the re-run experiment, `<name>-rerun` by default."""
    from sweep.rerun import launch_rerun

    return load_experiment(Path(launch_rerun(name, storage=storage, **options)).name, storage)


def replicate(name, space=None, *, ensemble_of=None, storage=DEFAULT_STORAGE, **options) -> Experiment:
    """A family: the recipe of `space` trained once per seed (options: trainable, seeds, sets, data, ...), or with
    `ensemble_of`, direct ensembles of that family's finished models (options: size, device). Returns it."""
    from sweep.replicate import build_ensembles, launch_family

    if (space is None) == (ensemble_of is None):
        raise TypeError("replicate: give exactly one of space= (a recipe) and ensemble_of= (a family)")
    if ensemble_of is not None:
        out = build_ensembles(name, ensemble_of, storage=storage, **options)
    else:
        out = launch_family(name, space, storage=storage, **options)
    return load_experiment(Path(out).name, storage)


def evaluate(target, storage=DEFAULT_STORAGE, **suites):
    """Score models on BLiMP-format pairs, the supplement and EWoK (suites: blimp_dir, supplement_dir, ewok_dir,
    suite_name, limit, ...). `target` a sweep's name (or its Experiment): every trial's model as Ray tasks, and the
    rows of its evaluation.csv are returned; a model folder (a Path, or a str naming a folder that holds a model):
    scored here, and its result dict returned."""
    from trainables.model_folder import find_model
    from analysis.evaluate import evaluate_model, evaluate_sweep

    if isinstance(target, Experiment):
        return evaluate_sweep(target.name, storage=target.path.parent, **suites)
    if isinstance(target, Path) or (Path(target).is_dir() and find_model(Path(target)) is not None):
        return evaluate_model(target, **suites)
    return evaluate_sweep(target, storage=storage, **suites)


def correlate(source, storage=DEFAULT_STORAGE, **options) -> list[dict]:
    """The paper's regressions (every suite score, and the test loss, on validation loss) of an experiment (its
    name or Experiment) or of a results table (a DataFrame): one dict per pair with R², its bootstrap interval,
    slope and n (options: pairs, n_boot, seed)."""
    import pandas as pd

    from analysis.correlate import correlate as correlate_table, scored_validation_loss

    table = source if isinstance(source, pd.DataFrame) else _experiment(source, storage).table
    return correlate_table(scored_validation_loss(table)[0], **options)


def compare(families, sweep=None, storage=DEFAULT_STORAGE, all_sweep_trials=False, references=None):
    """Families of models side by side (the paper's Table 3 and Figure 1): `families` {label: experiment name or
    Experiment} (or a list of names, each its own label), `sweep` a sweep (name or Experiment; or (label, name))
    drawn as the distribution of its complete trials with its best trial marked, `references` a file of reference
    points. Returns the Comparison (analysis.compare.markdown_table, plot_comparison and write_report take it)
    with `sources` (label -> results table) and `sweep_rule` (which of the sweep's trials are drawn) set on it."""
    from analysis.compare import attach_superglue, compare as compare_tables, known_metric_names, read_references
    from analysis.errors import AnalysisError
    from sweep import selection

    if not isinstance(families, dict):
        families = {name: name for name in families}
    tables, sources, notes = {}, {}, []
    for label, e in families.items():
        exp = _experiment(e, storage)  # SweepError naming an unknown experiment
        tables[label], found = attach_superglue(exp.table, exp.path)
        sources[label] = str(exp.table_path)
        notes += [f"{label}: {n}" for n in found]
    drawn = best = None
    sweep_label, rule = "sweep", "complete, non-diverged trials"
    if sweep is not None:
        sweep_label, sweep = sweep if isinstance(sweep, tuple) else (None, sweep)
        sweep_exp = _experiment(sweep, storage)
        sweep_label = sweep_label or sweep_exp.name
        table, found = attach_superglue(sweep_exp.table, sweep_exp.path)
        notes += [f"{sweep_label}: {n}" for n in found]
        sources[sweep_label] = str(sweep_exp.table_path)
        budget = sweep_exp.space.budget_max
        best = selection.best_trial(table, budget, "val_loss", "min")
        if all_sweep_trials:
            drawn, rule = table, "every finished, non-diverged trial, those the scheduler stopped early included"
        else:
            drawn, _ = selection.complete_trials(table, budget, "val_loss", "min")
            if drawn.empty and len(table):
                raise AnalysisError(f"sweep {sweep_exp.name!r} ({sweep_exp.table_path}): no complete trial among "
                                    f"its {len(table)} row(s) (finished its schedule without diverging); "
                                    f"--all-sweep-trials draws the trials the scheduler stopped early too")
    if references is not None:
        known = known_metric_names(list(tables.values()) + ([drawn] if drawn is not None else []))
        references = read_references(Path(references).expanduser(), known=known)
    comparison = compare_tables(tables, sweep=drawn, best=best, references=references, sweep_label=sweep_label,
                                sources=sources)
    comparison.notes = notes + comparison.notes
    comparison.sources, comparison.sweep_rule = sources, rule
    return comparison


def report(exp_or_name, storage=DEFAULT_STORAGE, compare_with=None) -> Path:
    """Write the experiment's self-contained HTML report (and its figures); returns the page's path."""
    from analysis.report import write_report

    other = None if compare_with is None else _experiment(compare_with, storage)
    return write_report(_experiment(exp_or_name, storage), other)


