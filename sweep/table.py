"""The results table format: babysweep's tidy view of an experiment, one row per trial, next to Ray's files: how it
is read, merged and written.

    <experiment>/results.csv     trial_id, state, epoch, val_loss, best_val_loss, test_loss, seed, wall_s, gpu_s,
                                 checkpoint (the model to score: the trial's last or best checkpoint, see --keep),
                                 checkpoint_epoch, checkpoint_val_loss, config/<name> per hyperparameter,
                                 node, node_id, worker_pid (where the trial ran last), failures, error (one line),
                                 error_file (the full text, in <experiment>/errors/) for a trial that failed,
                                 warning (the trial's last, e.g. a damaged checkpoint it went back from),
                                 then what later steps add (scored_epoch, the suite scores, source_trial_id, ...)
    <experiment>/history.csv     one line per report: trial_id, epoch, val_loss, the sweep's metric when it is
                                 another (a fine-tuning space's score), wall_s, time (budget curves).
                                 Appended to, never rewritten: each line in the columns of the file's own header
                                 (a history begun by an earlier version keeps its columns). A trial that went back to an earlier checkpoint (its
                                 driver killed between a report and Ray's saved state, a damaged checkpoint) reports
                                 some epochs again: read_history keeps each trial's last report of an epoch, the one
                                 it went on from
    <experiment>/evaluation.csv  one row per scored checkpoint (babysweep evaluate), keyed by (trial_id, checkpoint),
                                 merged into results.csv by trial_id

Reading and writing only: pandas, no Ray. The Ray Tune callback that keeps the table up to date while a sweep
runs is sweep/results.py; the object a reader should use is `sweep.experiment.load_experiment`. evaluation.csv and
results.csv are written by more than one process (the sweep's callback, any number of `evaluate` runs): each
read-merge-write of them holds the experiment's tables lock (sweep.folder.tables_lock) and re-reads the file inside
it, so that no process's update is lost to another's rename.

The schema every read goes through (`check_table`: the required columns, what each known column holds, a
table refused whole in one line) and the score columns (`suite_columns`) are sweep/table_schema.py's; this
module reads (history.csv's torn lines skipped, `check_history_covers`), checks what a reader needs
(`require_column`, `check_reported`), merges and writes.

Paths are placed here, once: in a table of an experiment folder (sweep.json beside it) the columns naming files
(PATH_COLUMNS: the model to score, the error text, a fine-tuning trial's checkpoint) are written relative to the
folder (`..` for one elsewhere in its storage, such as another experiment's model; one outside the storage stays
absolute), so that a storage copied or moved keeps its tables; they are read as absolute paths where the folder is
now, an absolute one written by an earlier version at the storage it was in re-rooted (trainables/relocation.py).

Types are settled here, once: trial ids are strings (left to pandas, "12345678" would become an int and
"1e345678" a float), `diverged` is a boolean (it is written as True/False, but tables edited by hand or by other
tools say true, 1, yes), and the numeric columns are numbers.
"""
import csv
import io
import math
import sys
from pathlib import Path

import pandas as pd

from trainables.files import write_csv
from trainables.names import EXPERIMENT_RECORD
from trainables.relocation import moved_storage, resolved_path, stored_path

from .errors import SweepError
from .table_schema import (  # noqa: F401  (the schema's names, also imported from here)
    ANY_TABLE, COLUMN_KINDS, EPOCHS, ERROR, EVALUATION, EVALUATION_SCHEMA, FALSE_TEXT, FINETUNE_HISTORY_SCHEMA,
    FINETUNE_SCHEMA, FINISHED, FIRST_COLUMNS, FRACTION, HISTORY, HISTORY_COLUMNS, HISTORY_SCHEMA, ID_COLUMNS,
    INF_ANYWHERE, INF_NEVER, INF_ON_DIVERGED, KNOWN_SUITES, LOSS, LOST, NUMBER, OBJECTIVE, PERCENT,
    RESERVED_PREFIXES, RESULTS, RULES, SECONDS, STATES, SUITE_PREFIXES, TABLE, TRUE_TEXT, Schema, _is_boolean,
    _missing, _numbers, _some, check_table, column_kinds, history_columns, history_schema, paradigm_columns,
    paradigm_prefix, parse_bool, schema_of, suite_columns)


def _data_lines(data: bytes, n_rows: int):
    """The line number of each data row of a CSV file pandas read (blank lines skipped), or None when the file's
    lines and rows do not match one to one (a quoted cell across lines): errors then count rows."""
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return None
    numbers = [n for n, line in enumerate(lines[1:], start=2) if line.strip()]
    return numbers if len(numbers) == n_rows else None


def _parse_csv(data: bytes) -> pd.DataFrame:
    """CSV bytes as a DataFrame, the id columns as text: only an empty cell is a missing id (pandas would read
    "nan", "NA" or "null" as missing, and "12345678" as a number)."""
    df = pd.read_csv(io.BytesIO(data), dtype=ID_COLUMNS)
    ids = [c for c in ID_COLUMNS if c in df.columns and df[c].isna().any()]
    if ids:  # read again, as text alone
        text = pd.read_csv(io.BytesIO(data), usecols=ids, dtype=str, keep_default_na=False, na_values=[""])
        for column in ids:
            df[column] = text[column].to_numpy()
    return df


def read_table(path, schema: Schema | None = None) -> pd.DataFrame:
    """results.csv (or evaluation.csv, or any table in that format; a path, or a binary file object) checked
    against its schema (default: by the file's name, see schema_of) with its types settled; SweepError naming the
    file when it is empty, not CSV, or fails the schema (the file is left as it is)."""
    if hasattr(path, "read"):
        data, path = path.read(), getattr(path, "name", "<table>")
    else:
        path = Path(path)
        data = path.read_bytes()
    schema = schema or schema_of(path)
    try:
        df = _parse_csv(data)
    except pd.errors.EmptyDataError:
        raise SweepError(f"{path}: is empty, not a {schema.what} (a CSV file with a header line)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise SweepError(f"{path}: not a readable {schema.what} ({' '.join(str(e).split())})") from None
    return placed_paths(check_table(df, path, schema, _data_lines(data, len(df))), path)


# the columns naming files, placed as the module docstring says
PATH_COLUMNS = ("checkpoint", "error_file", "config/checkpoint", "config/glue_dir")


def experiment_of_table(path) -> Path | None:
    """The experiment folder a table file lies in (sweep.json beside it), None for any other table."""
    folder = Path(path).parent
    return folder if isinstance(path, (str, Path)) and (folder / EXPERIMENT_RECORD).is_file() else None


def placed_paths(df: pd.DataFrame, path) -> pd.DataFrame:
    """The table read from `path` with its PATH_COLUMNS absolute where its experiment is now (as it is for a table
    that is not an experiment's)."""
    exp = experiment_of_table(path)
    columns = [c for c in PATH_COLUMNS if c in df.columns]
    if exp is None or not columns:
        return df
    moved = moved_storage(exp)
    own = str(Path(moved[0]) / exp.name) if moved else None
    base = str(exp.resolve())
    for column in columns:
        df[column] = [resolved_path(v, base, moved, own) for v in df[column]]
    return df


def warn(message: str) -> None:
    """A reader's warning: one line on stderr (the command line's own warnings look the same)."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def read_history(path, redone=False, warn=warn, metric="val_loss") -> pd.DataFrame:
    """history.csv as one continuous history per trial: each (trial, epoch) once, its last report (the one the
    trial went on from). With redone, every line, the earlier reports of an epoch marked True in a `redone` column
    (the cost of going back to a checkpoint). `metric`: the sweep's (its schema: history_schema).

    The file is appended to line by line: a writer killed mid-line leaves its last line without an end (torn), and
    the next writer's line then continues it (a line with the wrong number of fields). Those lines are skipped, with
    one `warn` naming the file and how many; a row that is whole but fails the schema is a SweepError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SweepError(f"{path}: not a readable history (not UTF-8 text)") from None
    lines = text.splitlines(keepends=True)
    torn = bool(lines) and not lines[-1].endswith(("\n", "\r"))
    if torn:
        lines = lines[:-1]
    rows = list(csv.reader(lines))
    header = rows[0] if rows else []
    kept, numbers, skipped = [], [], []
    for n, fields in enumerate(rows[1:], start=2):
        if not fields or not any(f.strip() for f in fields):
            continue  # a blank line
        if len(fields) != len(header) or fields == header:  # continued by a later writer; a second header
            skipped.append(n)
            continue
        kept.append(fields)
        numbers.append(n)
    if torn or skipped:
        where = [f"line{'s' if len(skipped) > 1 else ''} {', '.join(map(str, skipped[:5]))}"
                 f"{', ...' if len(skipped) > 5 else ''} with {len(header)} fields expected"] if skipped else []
        where += [f"line {len(lines) + 1}, the last, without its end"] if torn else []
        warn(f"{path}: skipped {len(skipped) + torn} torn line(s) ({'; '.join(where)}: a writer killed mid-line); "
             f"the history holds the other {len(kept)} report(s)")
    if not header:
        df = pd.DataFrame(columns=history_columns(metric))
    else:
        buffer = io.StringIO()
        csv.writer(buffer).writerows([header, *kept])
        df = _parse_csv(buffer.getvalue().encode("utf-8"))
    df = check_table(df, path, history_schema(metric), numbers)
    again = df.duplicated(["trial_id", "epoch"], keep="last")
    if redone:
        return df.assign(redone=again)
    return df[~again].reset_index(drop=True)


def check_history_covers(history: pd.DataFrame, table: pd.DataFrame, history_path, table_path) -> None:
    """SweepError when the history lacks reports the results table records: a trial at epoch E in the table whose
    last report in the history is earlier (or which has none). The callback appends a report to history.csv before
    the table records it, so this is a history cut short (lines lost), whose curves would be wrong."""
    if table.empty or "epoch" not in table.columns or "trial_id" not in table.columns:
        return
    reached = history.groupby("trial_id")["epoch"].max() if len(history) else pd.Series(dtype=float)
    short = []
    for tid, epoch in zip(table["trial_id"], pd.to_numeric(table["epoch"], errors="coerce")):
        if pd.isna(epoch):
            continue
        last = reached.get(tid, math.nan)
        if pd.isna(last) or last < epoch - 1e-9:
            short.append((tid, epoch, last))
    if short:
        tid, epoch, last = short[0]
        has = "none" if pd.isna(last) else f"epoch {last:g}"
        raise SweepError(f"{history_path}: lacks reports that {Path(table_path).name} records ({len(short)} "
                         f"trial(s); trial {tid} reached epoch {epoch:g}, its last report here: {has}): the file was "
                         f"cut short, and its curves would be wrong; restore it, or move it away to go on without "
                         f"the curves")


def require_column(df: pd.DataFrame, path, column: str, why: str) -> None:
    """SweepError (one line naming the file and the column) unless the table has `column`, which `why` needs."""
    if column not in df.columns:
        raise SweepError(f"{path}: no {column} column ({why})")


def check_reported(df: pd.DataFrame, path, metric: str) -> None:
    """SweepError when trials of the table have reported (an epoch) but it has no `metric` column: every report of a
    trial holds the sweep's metric, so such a table was damaged."""
    if metric in df.columns or "epoch" not in df.columns:
        return
    reported = int(pd.to_numeric(df["epoch"], errors="coerce").notna().sum())
    if reported:
        raise SweepError(f"{path}: no {metric} column (the sweep's metric), though {reported} trial(s) have "
                         f"reported (epoch): the table is damaged")


def write_table(df: pd.DataFrame, path) -> None:
    """`df` written atomically at `path`; in an experiment folder, its PATH_COLUMNS relative to it (the module
    docstring; `df` is left as it is)."""
    exp = experiment_of_table(path)
    columns = [c for c in PATH_COLUMNS if c in df.columns]
    if exp is not None and columns:
        base = str(exp.resolve())
        df = df.assign(**{c: [stored_path(v, base, within=str(Path(base).parent)) for v in df[c]] for c in columns})
    write_csv(path, df)








def order_columns(df: pd.DataFrame) -> pd.DataFrame:
    first = [c for c in FIRST_COLUMNS if c in df.columns]
    configs = sorted(c for c in df.columns if c.startswith("config/"))
    scores = suite_columns(df.columns) + [c for c in ("source_trial_id",) if c in df.columns]
    rest = [c for c in df.columns if c not in first and c not in configs and c not in scores]
    return df[first + configs + scores + rest]


_warned = set()  # the damaged evaluation tables a running sweep's writer has warned of (once each)


def merge_evaluation(df: pd.DataFrame, evaluation_path, strict=True) -> pd.DataFrame:
    """The table with the scores of evaluation.csv (babysweep evaluate) as columns, by trial_id. A column both have
    (test_loss: the scored model's) takes evaluation's value where it has one and keeps the table's elsewhere.

    An evaluation.csv that fails its schema is a SweepError; with strict=False (the running sweep's table writer,
    which must not stop a sweep for a file someone edited by hand) it is left out, with one warning per problem,
    and the table keeps the scores its rows already hold."""
    path = Path(evaluation_path)
    if not path.exists():
        return df
    try:
        scores = read_table(path, EVALUATION_SCHEMA)
    except SweepError as e:
        if strict:
            raise
        if str(e) not in _warned:
            _warned.add(str(e))
            warn(f"{e}; its scores are not merged into {TABLE} until it is fixed")
        return df
    scores = scores.drop(columns=["checkpoint"], errors="ignore").drop_duplicates("trial_id", keep="last")
    shared = [c for c in scores.columns if c != "trial_id" and c in df.columns]
    merged = df.drop(columns=shared).merge(scores, on="trial_id", how="left")
    for column in shared:
        merged[column] = merged[column].where(merged[column].notna(), df[column].to_numpy())
    return order_columns(merged)


def merge_scored(evaluation: pd.DataFrame, scored: list[dict]) -> pd.DataFrame:
    """evaluation.csv's rows with `scored` ({trial_id, checkpoint, column: value, ...} each) merged in, keyed by
    (trial_id, checkpoint): a row already there gets the columns of its new entry (the others kept, e.g. another
    suite's scores), a new key is a new row at the end. Rows and columns of others are kept as they are."""
    rows = evaluation.to_dict("records") if len(evaluation) else []
    index = {(str(r["trial_id"]), str(r["checkpoint"])): i for i, r in enumerate(rows)}
    for entry in scored:
        key = (str(entry["trial_id"]), str(entry["checkpoint"]))
        if key in index:
            rows[index[key]].update(entry)
        else:
            index[key] = len(rows)
            rows.append(dict(entry))
    columns = list(evaluation.columns) + [c for r in scored for c in r if c not in evaluation.columns]
    return pd.DataFrame(rows, columns=list(dict.fromkeys(columns)))
