"""`babysweep report NAME`: one self-contained HTML page about a sweep (analysis/report.py), registered into the
`babysweep` parser by babysweep/cli/__init__.py through `register(subparsers)`."""
from .common import DEFAULT_STORAGE, storage_flag


def cmd_report(args):
    from analysis.report import FIGURES_DIR, write_report

    from sweep.experiment import load_experiment

    exp = load_experiment(args.name, args.storage)  # SweepError (exit 2) for a name that does not exist
    other = load_experiment(args.compare_with, args.storage) if args.compare_with else None
    path = write_report(exp, compare_with=other)
    state = exp.driver()
    if state.startswith("running"):
        print(f"sweep {exp.name!r} is still running ({state}): the report shows the {len(exp.table)} trial(s) "
              f"reported so far; run `babysweep report {exp.name}{storage_flag(args.storage)}` again when it ends")
    print(f"figures: {exp.path / FIGURES_DIR} (PNG and PDF)")
    print(path)


def register(sub) -> None:
    p = sub.add_parser("report", help="one self-contained HTML report of a sweep (figures embedded; opens from disk)",
                       description="Write <storage>/<NAME>/report.html: the sweep's settings and compute, the best "
                                   "validation loss against budget, every trial's curve with the rungs, validation "
                                   "loss against each hyperparameter over its prior, the correlation, stability and "
                                   "family-comparison plots where those analyses exist (else the command that makes "
                                   "them), and the results table. The figures also go to <storage>/<NAME>/report/ "
                                   "as PNG and PDF. Prints the report's path.")
    p.add_argument("name", metavar="NAME", help="the sweep (or re-run) to report on")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"experiment storage folder (default {DEFAULT_STORAGE})")
    p.add_argument("--compare-with", metavar="OTHER",
                   help="another sweep in the same storage (e.g. random search on the same space): its anytime curve "
                        "is drawn beside this one's")
    p.set_defaults(func=cmd_report)
