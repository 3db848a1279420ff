"""Which trials count: the selection rules, one definition each, on plain results tables.

`status` names the best trial, `rerun` re-trains the top K, the analyses compare them: all through these
functions (usually as methods of `sweep.experiment.Experiment`), so "the best trial" means one thing.

A trial is *complete* when it finished (TERMINATED), did not diverge, and reached the end of its own schedule:
its `num_epochs`, or the sweep's maximum budget when that is lower (a trial HyperBand stopped at a rung is not
complete; it was cut, and a model trained 1 epoch is not comparable with one trained to its schedule's end).
The best trial is the complete trial with the best value of the space's metric (ties: lowest trial id): its final
value, or, where the experiment keeps each trial's best checkpoint (`keep: best`, fine-tuning's default), the value of
the model it kept (`checkpoint_<metric>`): that model is the one the trial hands on (finetune-all, the report), and a
fine-tuning run's last epoch may be far below its best (seen: RTE 0.51 final, 0.54 kept).
"""
import math
from typing import NamedTuple

import pandas as pd

from .table import FINISHED, parse_bool

EPS = 1e-9


RANKED = "ranked_value"  # the column complete_trials adds: the value each complete trial is ranked by


def ranked_column(table: pd.DataFrame, metric: str, keep: str = "last") -> pd.Series:
    """The value each trial is ranked by: the kept model's metric with keep=best (the final value where the table has
    none for a trial: a row written before checkpoints were recorded), else the final value."""
    final = table[metric]
    kept = f"checkpoint_{metric}"
    if keep != "best" or kept not in table:
        return final
    return pd.to_numeric(table[kept], errors="coerce").fillna(final)


class Ranked(NamedTuple):
    """What complete_trials returns (a pair, so `trials, notes = ...` reads it too)."""
    trials: pd.DataFrame  # the complete trials, best first by their RANKED value, then trial id
    notes: list           # what was left out and why ("2 diverged trial(s) left out", ...)


def complete_trials(table: pd.DataFrame, budget_max: float, metric="val_loss", mode="min", keep="last") -> Ranked:
    """The complete trials ranked best first by their ranked value (column RANKED: see ranked_column), then trial
    id, with notes saying what was left out."""
    notes = []
    if table.empty or "state" not in table or metric not in table:
        return Ranked(table.iloc[:0], notes)
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
    df = df.assign(**{RANKED: ranked_column(df, metric, keep)})
    df = df[reached & df[RANKED].notna() & (df[RANKED].abs() < math.inf)]
    return Ranked(df.sort_values([RANKED, "trial_id"], ascending=[mode == "min", True]), notes)


def best_trial(table: pd.DataFrame, budget_max: float, metric="val_loss", mode="min", keep="last"):
    """The best complete trial (a row, with its RANKED value), or None while no trial is complete."""
    ranked = complete_trials(table, budget_max, metric, mode, keep).trials
    return None if ranked.empty else ranked.iloc[0]


def best_rule(metric: str, mode: str, keep: str = "last") -> str:
    """The rule in words, for status and the report."""
    value = f"{metric} ({mode}) of the model each trial kept (its best checkpoint)" if keep == "best" \
        else f"final {metric} ({mode})"
    return f"best {value} among trials that completed their own schedule (or reached the budget cap) without diverging"


def best_summary(row, metric: str, keep: str = "last") -> str:
    """The best row's value in words: "score 0.5396 (kept model: epoch 2; final 0.5108 at epoch 10)" with keep=best
    where the kept model differs from the last, else "val_loss 4.1331 at epoch 3"."""
    value, final, epoch = row.get(RANKED, row[metric]), row[metric], row["epoch"]
    kept_epoch = row.get("checkpoint_epoch")
    if keep == "best" and not _same(value, final) and pd.notna(kept_epoch):
        return f"{metric} {value:.4f} (kept model: epoch {kept_epoch:g}; final {final:.4f} at epoch {epoch:g})"
    return f"{metric} {value:.4f} at epoch {epoch:g}"


def _same(a, b) -> bool:
    return a == b or (a != a and b != b)
