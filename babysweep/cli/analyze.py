"""`babysweep analyze ACTION`: the analysis subcommands, registered into the `babysweep` parser by
babysweep/cli/__init__.py through `register(subparsers)`.

Each action is one entry of ACTIONS: a function that adds its parser (with `add_table_arguments` for the
NAME / --table / --storage / --out options every action shares) and sets `func` to its command. To add an
action, write `add_<action>(actions)` and its `cmd_<action>(args)`, and append the adder to ACTIONS.
"""
import argparse
import sys
from pathlib import Path

from analysis.correlate import AnalysisError

from .common import DEFAULT_STORAGE, run


def add_table_arguments(p: argparse.ArgumentParser) -> None:
    """NAME or --table FILE, --storage, --out: which results table to read and where the output goes."""
    p.add_argument("name", nargs="?", metavar="NAME", help="sweep name (its table is <storage>/<NAME>/results.csv)")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"experiment storage folder (default {DEFAULT_STORAGE})")
    p.add_argument("--table", metavar="FILE",
                   help="read this results table (CSV, one row per trial) instead of a sweep's: any table with "
                        "the needed columns")
    p.add_argument("--out", metavar="DIR",
                   help="output folder (default <experiment>/analysis, or analysis/ beside the --table file)")


def resolve_table(args) -> tuple[Path, Path, object]:
    """(results table, output folder, the table read, or None for --table: the analysis reads that file) from NAME
    or --table; AnalysisError or SweepError when neither works. A sweep's table is read through its Experiment:
    checked (sweep/table.py), with its evaluation scores merged."""
    if args.table and args.name:
        raise AnalysisError(f"give a sweep NAME or --table FILE, not both ({args.name!r} and {args.table})")
    if args.table:
        table = Path(args.table).expanduser()
        out, frame = table.parent / "analysis", None
    elif args.name:
        from sweep.experiment import load_experiment  # SweepError for an unknown sweep

        exp = load_experiment(args.name, args.storage)
        table = exp.table_path
        if not exp.has_table:
            raise AnalysisError(f"{table}: sweep {args.name!r} has no results table yet (no trial has reported)")
        out, frame = exp.analysis_dir, exp.table
    else:
        raise AnalysisError("give a sweep NAME or --table FILE")
    return table, Path(args.out).expanduser() if args.out else out, frame


def nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


# ---------------------------------------------------------------------------------------------- correlate

def cmd_correlate(args):
    from analysis.correlate import analyse, markdown_table

    table, out, frame = resolve_table(args)
    results, notes, paths = analyse(table, out, max_budget_only=args.max_budget_only,
                                    drop_diverged=not args.keep_diverged, n_boot=args.bootstrap, seed=args.seed,
                                    table=frame)

    print(f"results table: {table}")
    for note in notes:
        print(f"  {note}")
    print()
    print(markdown_table(results))
    print()
    if args.bootstrap:
        print(f"95% CI: percentile bootstrap of R² over {args.bootstrap} resamples of the trials (seed {args.seed})")
    for r in results:
        if "skipped" in r:
            print(f"{r['label']}: skipped: {r['skipped']}; no plot")
    print(f"report: {paths['correlate.md']}")
    print(f"table:  {paths['correlate.csv']}")
    plots = [p for name, p in paths.items() if name.endswith((".png", ".pdf"))]
    if plots:
        print("plots:  " + "\n        ".join(str(p) for p in plots))


def add_correlate(actions) -> None:
    p = actions.add_parser(
        "correlate", help="regress BLiMP scores and test loss on validation loss (R², bootstrap CI, plots)",
        description="Linear regressions of BLiMP filtered, BLiMP supplement and test loss on validation loss "
                    "over a sweep's trials (BabyLlama-2 paper, Fig. 2): R² with a bootstrap 95% interval, slope "
                    "and n, a plot per pair (PNG and PDF), correlate.md and correlate.csv.")
    add_table_arguments(p)
    p.add_argument("--max-budget-only", action="store_true",
                   help="keep only trials trained to the highest budget (epoch) reached")
    p.add_argument("--keep-diverged", action="store_true",
                   help="keep trials marked diverged (dropped by default; their non-finite losses never enter a fit)")
    p.add_argument("--bootstrap", type=nonnegative_int, default=2000, metavar="N",
                   help="bootstrap resamples for the R² interval (default 2000; 0: no interval)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    p.set_defaults(func=cmd_correlate)


# ---------------------------------------------------------------------------------------------- stability

def cmd_stability(args):
    from analysis.stability import stability_report

    from sweep.experiment import load_experiment

    source = load_experiment(args.name, args.storage)
    rerun = load_experiment(args.rerun or f"{args.name}-rerun", args.storage)
    for exp in (source, rerun):
        if not exp.has_table:
            raise AnalysisError(f"{exp.table_path}: no results table yet")
    out = Path(args.out).expanduser() if args.out else rerun.analysis_dir
    markdown, paths = stability_report(source.table, rerun.table, out, z=args.z)
    print(markdown)
    print("written: " + ", ".join(str(p) for p in paths.values()))


def add_stability(actions) -> None:
    p = actions.add_parser("stability", help="compare the sweep's best trials with their re-runs (babysweep rerun)")
    p.add_argument("name", metavar="NAME", help="the sweep that was re-run")
    p.add_argument("--rerun", help="the re-run experiment (default NAME-rerun)")
    p.add_argument("--storage", default=DEFAULT_STORAGE)
    p.add_argument("--out", metavar="DIR", help="output folder (default <re-run experiment>/analysis)")
    p.add_argument("--z", type=float, default=2.0, help="verdict threshold in re-seeded standard deviations (default 2)")
    p.set_defaults(func=cmd_stability)


# ---------------------------------------------------------------------------------------------- scan

def cmd_scan(args):
    from analysis.report.common import LOG_SCALED
    from analysis.scan import format_curves, markdown_table, plot_curves, scan_curves
    from trainables.files import atomic_path, write_text

    from sweep.experiment import load_experiment

    exp = load_experiment(args.name, args.storage)
    metric = exp.space.metric
    curves = scan_curves(exp.require_table(), metric)
    if not curves:
        raise AnalysisError(f"{exp.table_path}: no scan runs (launch the space with --algo scan)")
    out = Path(args.out).expanduser() if args.out else exp.analysis_dir
    out.mkdir(parents=True, exist_ok=True)
    lines = format_curves(curves, metric)
    centre = exp.space.centre()
    log_params = {n for n, prior in exp.space.params.items() if prior.kind in LOG_SCALED}
    write_text(out / "scan.md", f"# One-at-a-time scan: {exp.name}\n\nEach searched parameter varied on its own, "
               f"the others at the space's centre; {metric} of each run ({exp.table_path}).\n\n"
               + markdown_table(curves, metric, centre) + "\n")
    fig = plot_curves(curves, metric, log_params, centre)
    for ext in ("png", "pdf"):
        with atomic_path(out / f"scan.{ext}") as tmp:
            fig.savefig(tmp, format=ext)
    print("\n".join(lines))
    print(f"written: {out / 'scan.md'}, {out / 'scan.png'}, {out / 'scan.pdf'}")


def add_scan(actions) -> None:
    p = actions.add_parser("scan", help="the one-at-a-time curves of a scan (launch --algo scan)")
    p.add_argument("name", metavar="NAME", help="the scan experiment")
    p.add_argument("--storage", default=DEFAULT_STORAGE)
    p.add_argument("--out", metavar="DIR", help="output folder (default <experiment>/analysis)")
    p.set_defaults(func=cmd_scan)


# ---------------------------------------------------------------------------------------------- compare

def labelled(text: str, what: str) -> tuple[str, str]:
    """(label, experiment name) from `NAME` or `LABEL=NAME` (split at the last '=': labels may hold one)."""
    label, sep, name = text.rpartition("=")
    if not sep:
        return text, text
    if not label.strip() or not name:
        raise AnalysisError(f"{what} {text!r}: expected NAME or LABEL=NAME with neither part empty")
    return label, name


def cmd_compare(args):
    from analysis.compare import markdown_table, plot_comparison, write_report

    from babysweep.api import compare
    from sweep.experiment import load_experiment

    specs = [labelled(text, "FAMILY") for text in args.families]
    sweep_spec = labelled(args.sweep, "--sweep") if args.sweep else None
    if sweep_spec and sweep_spec[0] == sweep_spec[1]:
        sweep_spec = (f"{sweep_spec[1]} (sweep)", sweep_spec[1])
    seen = {}
    for (label, name), text in zip(specs + ([sweep_spec] if sweep_spec else []),
                                   args.families + ([args.sweep] if args.sweep else [])):
        if label in seen:
            raise AnalysisError(f"label {label!r} given twice ({seen[label]!r} and {text!r}); give each family its "
                                f"own label with LABEL=NAME")
        seen[label] = text
    exps = {label: load_experiment(name, args.storage) for label, name in specs}
    comparison = compare(exps, sweep=sweep_spec, storage=args.storage, all_sweep_trials=args.all_sweep_trials,
                         references=args.reference)
    sources, rule = comparison.sources, comparison.sweep_rule
    fig, _ = plot_comparison(comparison)
    default = (load_experiment(sweep_spec[1], args.storage) if sweep_spec else next(iter(exps.values()))).analysis_dir
    out = Path(args.out).expanduser() if args.out else default
    paths = write_report(comparison, out, fig, sources=sources, sweep_rule=rule)

    print("Table 3: mean ± sd over each family's models (losses in nats per token, scores in %)")
    print()
    print(markdown_table(comparison))
    print()
    for note in comparison.notes:
        print(f"  {note}")
    print(f"report: {paths['compare.md']}")
    print(f"table:  {paths['compare.csv']}")
    print(f"figure: {paths['compare.png']}")
    print(f"        {paths['compare.pdf']}")


def add_compare(actions) -> None:
    p = actions.add_parser(
        "compare", help="families of models side by side: Table 3 (mean ± sd) and Figure 1 (violins) of the paper",
        description="Compare families of models (experiments whose rows are models: seeds of a recipe, students, "
                    "direct ensembles, ...) on test loss, validation loss, BLiMP filtered, BLiMP supplement, the "
                    "SuperGLUE macro average and any other suite score: Table 3 of the BabyLlama-2 paper (mean ± "
                    "sd per family per metric) as markdown and CSV, and Figure 1 (a violin per family with ticks "
                    "at the mean and ±1 sd, the sweep's models as a distribution, its best trial by validation loss "
                    "as a cross, reference points as markers) as PNG and PDF. Writes compare.md, compare.csv, "
                    "compare.png, compare.pdf.")
    p.add_argument("families", nargs="+", metavar="FAMILY",
                   help="an experiment in the storage (its results table, with evaluation scores merged), or "
                        "LABEL=NAME to label it")
    p.add_argument("--sweep", metavar="NAME",
                   help="a sweep drawn as the distribution of its complete trials, its best trial (by validation "
                        "loss) as a cross (LABEL=NAME to label it)")
    p.add_argument("--all-sweep-trials", action="store_true",
                   help="draw every finished, non-diverged trial of the sweep, those the scheduler stopped early "
                        "included (the paper's footnote 3); default: complete trials only")
    p.add_argument("--reference", metavar="FILE",
                   help="YAML or JSON file of reference points: {name: {metric: value, marker: '^', filled: true}}, "
                        "metrics by column name (test_loss, blimp_filtered, superglue, ...), scores in %%")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"experiment storage folder (default {DEFAULT_STORAGE})")
    p.add_argument("--out", metavar="DIR",
                   help="output folder (default: the sweep's analysis folder, <storage>/<sweep>/analysis, when "
                        "--sweep is given, else the first family's)")
    p.set_defaults(func=cmd_compare)


# ---------------------------------------------------------------------------------------------- registry

ACTIONS = [add_correlate, add_stability, add_scan, add_compare]


def register(subparsers) -> None:
    """Add `analyze` and its actions to the `babysweep` subcommands (an argparse subparsers object)."""
    analyze = subparsers.add_parser("analyze", help="analyses of a sweep's results table (correlations, ...)",
                                    description="Analyses of a results table; each writes a report and plots.")
    actions = analyze.add_subparsers(dest="analyze_command", required=True, metavar="ACTION")
    for add in ACTIONS:
        add(actions)


def main(argv=None):
    """The analysis commands alone: `python -m babysweep.cli.analyze correlate ...` (argv: the words after
    `analyze`), with babysweep's error style (one line, exit status 2)."""
    p = argparse.ArgumentParser(prog="babysweep")
    register(p.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    return run(p.parse_args(["analyze", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    sys.exit(main())
