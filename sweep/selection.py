"""Which trials count: the selection rules, one definition each, on plain results tables.

`status` names the best trial, `rerun` re-trains the top K, the analyses compare them: all through these
functions (usually as methods of `sweep.experiment.Experiment`), so "the best trial" means one thing.

A trial is *complete* when it finished (TERMINATED), did not diverge, and reached the end of its own schedule:
its `num_epochs`, or the sweep's maximum budget when that is lower (a trial HyperBand stopped at a rung is not
complete; it was cut, and a model trained 1 epoch is not comparable with one trained to its schedule's end).
The best trial is the complete trial with the best final value of the space's metric (ties: lowest trial id).
"""
import math

import pandas as pd

from .table import FINISHED, parse_bool

EPS = 1e-9


def complete_trials(table: pd.DataFrame, budget_max: float, metric="val_loss", mode="min"):
    """(complete trials ranked best first by the metric, then trial id; notes saying what was left out)."""
    notes = []
    if table.empty or "state" not in table or metric not in table:
        return table.iloc[:0], notes
    df = table[table["state"] == FINISHED]
    if "diverged" in df:
        diverged = df["diverged"].map(parse_bool).astype(bool)
        if diverged.any():
            notes.append(f"{int(diverged.sum())} diverged trial(s) left out")
        df = df[~diverged]
    end = df["config/num_epochs"].clip(upper=budget_max) if "config/num_epochs" in df else budget_max
    reached = df["epoch"] >= end - EPS
    if (~reached).any():
        notes.append(f"{int((~reached).sum())} trial(s) stopped early by the scheduler left out")
    df = df[reached & df[metric].notna() & (df[metric].abs() < math.inf)]
    return df.sort_values([metric, "trial_id"], ascending=[mode == "min", True]), notes


def best_trial(table: pd.DataFrame, budget_max: float, metric="val_loss", mode="min"):
    """The best complete trial (a row), or None while no trial is complete."""
    ranked, _ = complete_trials(table, budget_max, metric, mode)
    return None if ranked.empty else ranked.iloc[0]


BEST_RULE = ("best final {metric} ({mode}) among trials that completed their own schedule (or reached the "
             "budget cap) without diverging")
