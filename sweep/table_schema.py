"""The tables' schema: the columns every results table, evaluation table and history has, what each known
column holds (epochs, seconds, losses, fractions, ...), and `check_table`, the one check every reader goes through
(a bad file or row is a one-line SweepError naming file, line, column and value, never data). sweep/table.py reads
and writes the tables with it.

Score columns (babysweep evaluate): a suite's score is a column named after the suite, and its per-paradigm (or
per-domain) accuracies are `<prefix>/<paradigm>` columns. BabyLM's two BLiMP suites keep the names babysweep always
gave them: `blimp_filtered` with `blimp/<UID>`, `blimp_supplement` with `supplement/<task>`; every other suite S
(EWoK's `ewok`, the built-in pairs' `builtin_pairs`, a folder of the user's own) has `S/<paradigm>`.
`suite_columns` finds them all in a table, so the analyses take whatever suites a table has.

The schema (`check_table`, run by sweep/table.py's read_table and read_history on every read): what a table
read from disk must hold before anything shows it as data.
- Required columns: results.csv trial_id and state (every row the callback writes has both); evaluation.csv
  trial_id and checkpoint (its key); history.csv trial_id, epoch and the sweep's metric or val_loss
  (`history_schema`: a pretraining history has val_loss; a fine-tuning one has its space's metric, score, beside
  val_loss, and one written before babysweep recorded the metric there has val_loss alone, and still reads). Every
  other column is optional: a
  sweep that has just started has no epoch, val_loss or checkpoint yet. A reader that needs one says in one line
  that the table lacks it (sweep/table.py's `require_column`); and once a trial has reported (an epoch), the
  sweep's metric column must be there (`check_reported`, also sweep/table.py's).
- trial_id is never missing, and is unique in results.csv; state is one of STATES; diverged is a boolean.
- Numbers where numbers are expected (COLUMN_KINDS): epochs (epoch, checkpoint_epoch, scored_epoch) and seconds
  (wall_s, gpu_s) finite and >= 0; the losses babysweep computes (test_loss, scored_val_loss) >= 0; the trainable's
  own objective (val_loss, best_val_loss, checkpoint_val_loss) any number, for it is a test function's value as
  well as a cross-entropy (Hartmann's is negative), but never -inf; +inf, in either, only where a diverged trial
  wrote it (trainables/loop.py reports a non-finite loss as inf with diverged true): on a row marked diverged in
  results.csv, on any report in history.csv (which has no diverged column), never in evaluation.csv; every suite
  score and per-paradigm accuracy in [0, 1]. An empty cell (NaN) means not measured and is always allowed.
- A table that fails is refused whole: a one-line SweepError naming the file, the line, the column and the value.
  Nothing of it is shown. history.csv alone, appended to line by line by the drivers of the experiment, skips the
  lines a killed writer tore (its last line without an end, a line with the wrong number of fields) with one
  warning naming the file and how many lines; a history that lost reports the results table records (cut short)
  is refused (`check_history_covers`).
"""
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from trainables.names import (EVALUATION_TABLE, FIRST_COLUMNS, HISTORY_TABLE, RESULTS_TABLE,  # noqa: F401
                              SUITE_PREFIXES, paradigm_prefix)

from .errors import SweepError

TABLE, HISTORY, EVALUATION = RESULTS_TABLE, HISTORY_TABLE, EVALUATION_TABLE
HISTORY_COLUMNS = ["trial_id", "epoch", "val_loss", "wall_s", "time"]  # a sweep of val_loss; see history_columns
ID_COLUMNS = {"trial_id": str, "source_trial_id": str}
FINISHED, ERROR, LOST = "TERMINATED", "ERROR", "LOST"  # LOST: see sweep.folder.reconcile_with_table
# BabyLM's suites: score column -> prefix of its per-paradigm columns; any other suite S is its own prefix
KNOWN_SUITES = ("blimp_filtered", "blimp_supplement", "ewok")  # found even without per-paradigm columns
# prefixes that are not suites: the BabyLM suites' paradigm prefixes and the hyperparameters' config/<name>
RESERVED_PREFIXES = ("blimp", "supplement", "config", "provenance")  # provenance/<suite>: how it was scored
STATES = ["RUNNING", "PAUSED", "PENDING", FINISHED, ERROR, LOST]
TRUE_TEXT, FALSE_TEXT = ("true", "1", "1.0", "yes"), ("false", "0", "0.0", "no")

# ---------------------------------------------------------------------------------------------- the schema

# What each known column holds, in whichever table it appears (a table's Schema may say otherwise)
EPOCHS, SECONDS, OBJECTIVE, LOSS, FRACTION, NUMBER, PERCENT = ("epochs", "seconds", "objective", "loss", "fraction",
                                                               "number", "percent")
COLUMN_KINDS = {
    "epoch": EPOCHS, "checkpoint_epoch": EPOCHS, "scored_epoch": EPOCHS, "epochs": EPOCHS,
    "wall_s": SECONDS, "gpu_s": SECONDS,
    # what the trainable reports as val_loss: a cross-entropy for babysweep's models, but any objective for a
    # trainable of the user's or a test function's (Hartmann's is negative)
    "val_loss": OBJECTIVE, "best_val_loss": OBJECTIVE, "checkpoint_val_loss": OBJECTIVE,
    # cross-entropies babysweep computes itself (the test split's; the scored checkpoint's, from babysweep.json)
    "test_loss": LOSS, "scored_val_loss": LOSS, "train_loss": LOSS,
    "seed": NUMBER, "tokens_per_s": NUMBER, "mfu": NUMBER, "started_at": NUMBER, "failures": NUMBER,
    "worker_pid": NUMBER, "time": NUMBER, "score": NUMBER, "n_train": NUMBER, "n_valid": NUMBER,
    "best_score": NUMBER, "checkpoint_score": NUMBER,
}
RULES = {  # kind -> (what a value must be, as the error says it; the test on a float that is not NaN)
    EPOCHS: ("a finite number >= 0 (epochs)", lambda v: math.isfinite(v) and v >= 0),
    SECONDS: ("a finite number >= 0 (seconds)", lambda v: math.isfinite(v) and v >= 0),
    OBJECTIVE: ("a number", lambda v: v != -math.inf),
    LOSS: ("a loss, a number >= 0", lambda v: v >= 0),
    FRACTION: ("a score, a fraction in [0, 1]", lambda v: 0 <= v <= 1),
    PERCENT: ("a score in %, in [-100, 100]", lambda v: -100 <= v <= 100),
    NUMBER: ("a number", lambda v: True),
}
# Where +inf is a loss a diverged trial wrote: on rows marked diverged, on any row, or nowhere
INF_ON_DIVERGED, INF_ANYWHERE, INF_NEVER = "diverged", "anywhere", "never"


@dataclass(frozen=True)
class Schema:
    what: str                               # what the file is, as errors name it
    required: tuple = ()                    # columns it must have
    unique: str | None = None               # a column no two rows share a value of
    infinite_loss: str = INF_ON_DIVERGED    # where +inf may stand in a loss column
    kinds: dict = field(default_factory=dict)  # column kinds that differ from COLUMN_KINDS in this table
    any_of: tuple = ()                      # columns of which it must have one at least


RESULTS = Schema("results table", ("trial_id", "state"), unique="trial_id")
EVALUATION_SCHEMA = Schema("evaluation table", ("trial_id", "checkpoint"), infinite_loss=INF_NEVER)
HISTORY_SCHEMA = Schema("history", ("trial_id", "epoch", "val_loss"), infinite_loss=INF_ANYWHERE)
ANY_TABLE = Schema("results table", infinite_loss=INF_ANYWHERE)  # a table given with --table: any columns
FINETUNE_SCHEMA = Schema("fine-tuning table", ("task", "score"), infinite_loss=INF_ANYWHERE,
                         kinds={"score": PERCENT, "val_loss": LOSS})
FINETUNE_HISTORY_SCHEMA = Schema("fine-tuning history", ("task", "epoch"), infinite_loss=INF_ANYWHERE,
                                 kinds={"val_loss": LOSS})


def history_columns(metric="val_loss") -> list[str]:
    """The columns of a new history.csv of a sweep of `metric`: val_loss always (every babysweep trainable reports
    it), and the sweep's own metric beside it when that is another (a fine-tuning space's score)."""
    if metric == "val_loss":
        return list(HISTORY_COLUMNS)
    return ["trial_id", "epoch", "val_loss", metric, "wall_s", "time"]


def history_schema(metric="val_loss") -> Schema:
    """The schema of the history of a sweep of `metric`: HISTORY_SCHEMA for val_loss; for another metric, trial_id,
    epoch and that metric or val_loss (a history written before the metric was recorded there has val_loss only),
    the metric a number (never -inf) unless COLUMN_KINDS says what it is."""
    if metric == "val_loss":
        return HISTORY_SCHEMA
    kinds = {} if metric in COLUMN_KINDS else {metric: OBJECTIVE}
    return Schema("history", ("trial_id", "epoch"), infinite_loss=INF_ANYWHERE, kinds=kinds,
                  any_of=(metric, "val_loss"))


def schema_of(path) -> Schema:
    """The schema of a file by its name: evaluation.csv's, else a results table's."""
    return EVALUATION_SCHEMA if Path(path).name == EVALUATION else RESULTS


def parse_bool(value) -> bool:
    """A cell of a boolean column: True/False, text, 0/1, or missing (False)."""
    if isinstance(value, str):
        return value.strip().lower() in TRUE_TEXT
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return bool(value)


def _is_boolean(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in TRUE_TEXT + FALSE_TEXT + ("",)
    if value is None or isinstance(value, (bool, np.bool_)):
        return True
    if isinstance(value, (int, float, np.integer, np.floating)):
        return math.isnan(value) or value in (0, 1)
    return False


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) or \
        (isinstance(value, str) and not value.strip())


def _some(columns, k=8) -> str:
    names = [str(c) for c in columns]
    return ", ".join(names[:k]) + (", ..." if len(names) > k else "")


def column_kinds(columns, schema: Schema) -> dict:
    """{column: kind} of the checked columns among `columns`: COLUMN_KINDS (as the schema amends them), every suite
    score and every per-paradigm accuracy (FRACTION)."""
    columns = [str(c) for c in columns]
    kinds = {c: k for c, k in {**COLUMN_KINDS, **schema.kinds}.items() if c in columns}
    suites = suite_columns(columns)
    prefixes = {paradigm_prefix(s) for s in suites} | {"blimp", "supplement"}
    for c in columns:
        if c in suites or ("/" in c and c.split("/", 1)[0] in prefixes):
            kinds[c] = FRACTION
    return kinds


def check_table(df: pd.DataFrame, path, schema: Schema = RESULTS, lines=None) -> pd.DataFrame:
    """`df` as read from `path`, checked against `schema` (see the module docstring) and with its types settled;
    SweepError (one line: the file, the line, the column, the value) at the first thing wrong. `lines`: the file's
    line number of each row (default: row i is line i + 2, after the header)."""
    def where(i) -> str:
        return f"{path}: line {lines[i] if lines is not None else i + 2}"

    for column in schema.required:
        if column not in df.columns:
            raise SweepError(f"{path}: no {column} column, which every {schema.what} has (its columns: "
                             f"{_some(df.columns) or 'none'})")
    if schema.any_of and not any(c in df.columns for c in schema.any_of):
        raise SweepError(f"{path}: no {' or '.join(schema.any_of)} column, one of which every {schema.what} of this "
                         f"sweep has (its columns: {_some(df.columns) or 'none'})")
    df = df.copy()
    for column in ("trial_id", "task"):
        if column in schema.required:
            for i, value in enumerate(df[column]):
                if _missing(value):
                    raise SweepError(f"{where(i)}: no {column} (every row of a {schema.what} has one)")
    if schema.unique and schema.unique in df.columns:
        seen = {}
        for i, value in enumerate(df[schema.unique]):
            if value in seen:
                raise SweepError(f"{where(i)}: {schema.unique} {value!r} is also on line "
                                 f"{lines[seen[value]] if lines is not None else seen[value] + 2} (one row per trial)")
            seen[value] = i
    if "state" in df.columns:
        for i, value in enumerate(df["state"]):
            if _missing(value):
                if "state" in schema.required:
                    raise SweepError(f"{where(i)}: no state (one of {', '.join(STATES)})")
            elif value not in STATES:
                raise SweepError(f"{where(i)}: state {value!r}: not one of {', '.join(STATES)}")
    if "diverged" in df.columns:
        for i, value in enumerate(df["diverged"]):
            if not _is_boolean(value):
                raise SweepError(f"{where(i)}: diverged {value!r}: not a boolean (True or False)")
        df["diverged"] = df["diverged"].map(parse_bool).astype(bool)
    diverged = df["diverged"].to_numpy(dtype=bool) if "diverged" in df.columns else np.zeros(len(df), dtype=bool)
    for column, kind in column_kinds(df.columns, schema).items():
        numbers = _numbers(df[column], column, where)
        if numbers is not df[column]:
            df[column] = numbers
        must, test = RULES[kind]
        values = df[column].to_numpy(dtype=float)
        for i, v in enumerate(values):
            if math.isnan(v):
                continue
            if kind in (LOSS, OBJECTIVE) and v == math.inf:
                if schema.infinite_loss == INF_ANYWHERE or (schema.infinite_loss == INF_ON_DIVERGED and diverged[i]):
                    continue
                why = ("only a diverged trial's loss is inf, and this row is not marked diverged"
                       if schema.infinite_loss == INF_ON_DIVERGED else f"not {must} (a scored model's loss is finite)")
                raise SweepError(f"{where(i)}: {column} inf: {why}")
            if not test(v):
                raise SweepError(f"{where(i)}: {column} {float(v)!r}: not {must}")
    return df


def _numbers(column: pd.Series, name, where) -> pd.Series:
    """A column as numbers (itself when pandas read it as numbers: integers stay integers); SweepError at the first
    cell that holds something else than a number."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column
    numbers = pd.to_numeric(column, errors="coerce") if not pd.api.types.is_bool_dtype(column) else \
        pd.Series(np.nan, index=column.index)
    for i, (value, number) in enumerate(zip(column, numbers)):
        if not _missing(value) and pd.isna(number):
            raise SweepError(f"{where(i)}: {name} {value!r}: not a number")
    return numbers.astype(float)


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
