"""The `babysweep` command: a thin layer over the library. Each module here adds one group of subcommands and
holds their `cmd_*` functions; none holds logic of its own.

    data.py         data generate, data prepare
    train.py        train (one configuration, outside any sweep)
    experiments.py  launch, resume, status, demo, rerun, evaluate
    plan.py         plan (what a sweep will cost, before it runs)
    finetune.py     finetune-all, finetune-family
    analyze.py      analyze correlate, analyze stability
    report.py       report (one self-contained HTML page of a sweep)
    replicate.py    replicate (a recipe trained with S seeds as one family; direct-ensemble families)

Every error meant for the user derives from trainables.errors.UserError: printed on one line, exit status 2.
"""
import argparse
import logging

from . import analyze, data, experiments, finetune, plan, replicate, report, train
from .common import run

GROUPS = [data, train, experiments, plan, finetune, analyze, report, replicate]


def build_parser():
    p = argparse.ArgumentParser(prog="babysweep", description="Hyperparameter sweeps (BOHB on Ray Tune) for small "
                                                               "language models trained on little data.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return p


def main(argv=None):
    logging.basicConfig(format="babysweep: %(levelname)s: %(message)s", level=logging.INFO)
    return run(build_parser().parse_args(argv))
