"""The results table format: babysweep's tidy view of an experiment, one row per trial, next to Ray's files.

    <experiment>/results.csv     trial_id, state, epoch, val_loss, best_val_loss, test_loss, seed, wall_s, gpu_s,
                                 checkpoint (the model to score: the trial's last or best checkpoint, see --keep),
                                 checkpoint_epoch, checkpoint_val_loss, config/<name> per hyperparameter,
                                 node, node_id, worker_pid (where the trial ran last), failures, error (one line),
                                 error_file (the full text, in <experiment>/errors/) for a trial that failed,
                                 warning (the trial's last, e.g. a damaged checkpoint it went back from),
                                 then what later steps add (scored_epoch, the suite scores, source_trial_id, ...)
    <experiment>/history.csv     one line per report: trial_id, epoch, val_loss, wall_s, time (budget curves).
                                 A trial that went back to an earlier checkpoint (its driver killed between a
                                 report and Ray's saved state, a damaged checkpoint) reports some epochs again:
                                 read_history keeps each trial's last report of an epoch, the one it went on from
    <experiment>/evaluation.csv  one row per scored checkpoint (babysweep evaluate), merged into results.csv

Reading and writing only: pandas, no Ray. The Ray Tune callback that keeps the table up to date while a sweep
runs is sweep/results.py; the object a reader should use is `sweep.experiment.load_experiment`.

Score columns (babysweep evaluate): a suite's score is a column named after the suite, and its per-paradigm (or
per-domain) accuracies are `<prefix>/<paradigm>` columns. BabyLM's two BLiMP suites keep the names babysweep always
gave them: `blimp_filtered` with `blimp/<UID>`, `blimp_supplement` with `supplement/<task>`; every other suite S
(EWoK's `ewok`, the built-in pairs' `builtin_pairs`, a folder of the user's own) has `S/<paradigm>`.
`suite_columns` finds them all in a table, so the analyses take whatever suites a table has.

Types are settled here, once: trial ids are strings (left to pandas, "12345678" would become an int and
"1e345678" a float) and `diverged` is a boolean (it is written as True/False, but tables edited by hand or by
other tools say true, 1, yes).
"""
import math
from pathlib import Path

import pandas as pd

from trainables.files import write_csv

from .errors import SweepError

TABLE, HISTORY, EVALUATION = "results.csv", "history.csv", "evaluation.csv"
FIRST_COLUMNS = ["trial_id", "state", "epoch", "val_loss", "best_val_loss", "test_loss", "seed", "wall_s", "gpu_s",
                 "checkpoint", "checkpoint_epoch", "checkpoint_val_loss", "diverged", "tokens_per_s", "mfu",
                 "started_at"]
HISTORY_COLUMNS = ["trial_id", "epoch", "val_loss", "wall_s", "time"]
ID_COLUMNS = {"trial_id": str, "source_trial_id": str}
FINISHED, ERROR, LOST = "TERMINATED", "ERROR", "LOST"  # LOST: see sweep.folder.reconcile_with_table
# BabyLM's suites: score column -> prefix of its per-paradigm columns; any other suite S is its own prefix
SUITE_PREFIXES = {"blimp_filtered": "blimp", "blimp_supplement": "supplement"}
KNOWN_SUITES = ("blimp_filtered", "blimp_supplement", "ewok")  # found even without per-paradigm columns
# prefixes that are not suites: the BabyLM suites' paradigm prefixes and the hyperparameters' config/<name>
RESERVED_PREFIXES = ("blimp", "supplement", "config")
STATES = ["RUNNING", "PAUSED", "PENDING", FINISHED, ERROR, LOST]


def parse_bool(value) -> bool:
    """A cell of a boolean column: True/False, text, 0/1, or missing (False)."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return bool(value)


def read_table(path) -> pd.DataFrame:
    """results.csv (or evaluation.csv, or any table in that format) with its types settled; SweepError naming the
    file when it is empty or not CSV (the file is left as it is)."""
    try:
        df = pd.read_csv(path, dtype=ID_COLUMNS)
    except pd.errors.EmptyDataError:
        raise SweepError(f"{path}: is empty, not a results table (a CSV file with a header line)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise SweepError(f"{path}: not a readable results table ({' '.join(str(e).split())})") from None
    if "diverged" in df.columns:
        df["diverged"] = df["diverged"].map(parse_bool).astype(bool)
    return df


def read_history(path, redone=False) -> pd.DataFrame:
    """history.csv as one continuous history per trial: each (trial, epoch) once, its last report (the one the
    trial went on from). With redone, every line, the earlier reports of an epoch marked True in a `redone` column
    (the cost of going back to a checkpoint). A driver killed mid-write can leave a partial last line: skipped."""
    df = pd.read_csv(path, on_bad_lines="skip", dtype=ID_COLUMNS)
    again = df.duplicated(["trial_id", "epoch"], keep="last")
    if redone:
        return df.assign(redone=again)
    return df[~again].reset_index(drop=True)


def write_table(df: pd.DataFrame, path) -> None:
    write_csv(path, df)


def paradigm_prefix(suite: str) -> str:
    """The prefix of a suite's per-paradigm columns: blimp for blimp_filtered, supplement for blimp_supplement,
    the suite's own name for any other."""
    return SUITE_PREFIXES.get(suite, suite)


def suite_columns(columns) -> list[str]:
    """The suite-score columns among `columns`: the known ones (blimp_filtered, blimp_supplement, ewok) first, in
    that order, then every other column S that has `S/<paradigm>` columns, in table order."""
    columns = [str(c) for c in columns]
    prefixes = {c.split("/", 1)[0] for c in columns if "/" in c}
    known = [c for c in KNOWN_SUITES if c in columns]
    other = [c for c in columns
             if "/" not in c and c in prefixes and c not in known and c not in RESERVED_PREFIXES]
    return known + other


def paradigm_columns(columns, suite: str) -> list[str]:
    """The per-paradigm (per-domain) columns of `suite` among `columns`, in table order."""
    prefix = paradigm_prefix(suite) + "/"
    return [str(c) for c in columns if str(c).startswith(prefix)]


def order_columns(df: pd.DataFrame) -> pd.DataFrame:
    first = [c for c in FIRST_COLUMNS if c in df.columns]
    configs = sorted(c for c in df.columns if c.startswith("config/"))
    scores = suite_columns(df.columns) + [c for c in ("source_trial_id",) if c in df.columns]
    rest = [c for c in df.columns if c not in first and c not in configs and c not in scores]
    return df[first + configs + scores + rest]


def merge_evaluation(df: pd.DataFrame, evaluation_path) -> pd.DataFrame:
    """The table with the scores of evaluation.csv (babysweep evaluate) as columns, by trial_id. A column both have
    (test_loss: the scored model's) takes evaluation's value where it has one and keeps the table's elsewhere."""
    path = Path(evaluation_path)
    if not path.exists():
        return df
    scores = read_table(path).drop(columns=["checkpoint"], errors="ignore").drop_duplicates("trial_id", keep="last")
    shared = [c for c in scores.columns if c != "trial_id" and c in df.columns]
    merged = df.drop(columns=shared).merge(scores, on="trial_id", how="left")
    for column in shared:
        merged[column] = merged[column].where(merged[column].notna(), df[column].to_numpy())
    return order_columns(merged)
