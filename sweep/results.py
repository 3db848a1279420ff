"""The results table: babysweep's tidy view of a sweep, one row per trial, next to Ray's own files.

    <experiment>/results.csv   trial_id, state, epoch, val_loss, best_val_loss, test_loss, seed, wall_s, gpu_s,
                               checkpoint (the final Hugging Face folder), config/<name> per hyperparameter,
                               then what later steps add (blimp_*, source_trial_id, ...)
    <experiment>/history.csv   one line per report: trial_id, epoch, val_loss, time (for budget curves)

A Ray Tune callback keeps both up to date while the sweep runs. The table is rewritten atomically
(temporary file, then rename), and only at the end of a controller step, after Ray has saved its own
experiment state: the table never claims a trial finished before Ray could restore it as finished, so a
driver killed at any moment is resumed without re-running what the table shows as done.
"""
import csv
import math
import os
import time
from pathlib import Path

import pandas as pd
from ray.tune import Callback

TABLE, HISTORY, EVALUATION = "results.csv", "history.csv", "evaluation.csv"
FIRST_COLUMNS = ["trial_id", "state", "epoch", "val_loss", "best_val_loss", "test_loss", "seed", "wall_s", "gpu_s",
                 "checkpoint", "diverged", "tokens_per_s", "mfu", "started_at"]
HISTORY_COLUMNS = ["trial_id", "epoch", "val_loss", "wall_s", "time"]


def write_table(df: pd.DataFrame, path) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)


# Trial ids are hex strings: left to pandas, "12345678" would become an int and "1e345678" a float
ID_COLUMNS = {"trial_id": str, "source_trial_id": str}


def read_table(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=ID_COLUMNS)


def read_history(path) -> pd.DataFrame:
    # A driver killed mid-write can leave a partial last line: skip it
    return pd.read_csv(path, on_bad_lines="skip", dtype=ID_COLUMNS)


def merge_evaluation(df: pd.DataFrame, evaluation_path) -> pd.DataFrame:
    """The table with the scores of evaluation.csv (babysweep evaluate) as columns, by trial_id."""
    path = Path(evaluation_path)
    if not path.exists():
        return df
    scores = read_table(path).drop(columns=["checkpoint"], errors="ignore").drop_duplicates("trial_id", keep="last")
    base = df.drop(columns=[c for c in scores.columns if c != "trial_id" and c in df.columns])
    return order_columns(base.merge(scores, on="trial_id", how="left"))


def order_columns(df: pd.DataFrame) -> pd.DataFrame:
    first = [c for c in FIRST_COLUMNS if c in df.columns]
    configs = sorted(c for c in df.columns if c.startswith("config/"))
    scores = [c for c in ("blimp_filtered", "blimp_supplement", "source_trial_id") if c in df.columns]
    rest = [c for c in df.columns if c not in first and c not in configs and c not in scores]
    return df[first + configs + scores + rest]


class ResultsTable(Callback):
    """Ray Tune callback writing results.csv and history.csv into the experiment folder."""

    def __init__(self, experiment_dir, to_config, gpus_per_trial=0.0, extra_columns=None):
        self.experiment_dir = str(experiment_dir)
        self.to_config = to_config  # maps a trial's (searcher) config to the trainable's arguments
        self.gpus_per_trial = gpus_per_trial
        self.extra_columns = extra_columns or {}  # {trial config key: column}, e.g. rerun links
        self.rows = None
        self.dirty = False

    def setup(self, **info):
        path = Path(self.experiment_dir) / TABLE
        self.rows = {}
        if path.exists():  # a resumed sweep: keep every row written before
            for row in read_table(path).to_dict("records"):
                self.rows[row["trial_id"]] = {k: v for k, v in row.items() if not (isinstance(v, float) and math.isnan(v))}

    def row(self, trial) -> dict:
        if self.rows is None:
            self.setup()
        row = self.rows.get(trial.trial_id)
        if row is None:
            config = self.to_config(trial.config)
            row = {"trial_id": trial.trial_id, "state": "PENDING", "seed": config.get("seed")}
            row.update({f"config/{k}": v for k, v in config.items() if k != "data"})
            for key, column in self.extra_columns.items():
                if key in config:
                    row[column] = config[key]
            self.rows[trial.trial_id] = row
        return row

    def save(self):
        df = order_columns(pd.DataFrame(list(self.rows.values())))
        df = merge_evaluation(df, Path(self.experiment_dir) / EVALUATION)  # scores of a concurrent evaluate
        write_table(df, Path(self.experiment_dir) / TABLE)
        self.dirty = False

    def on_trial_start(self, iteration, trials, trial, **info):
        row = self.row(trial)
        row["state"] = "RUNNING"
        row.setdefault("started_at", round(time.time(), 3))  # first start, for trial start latency
        self.dirty = True

    def on_trial_result(self, iteration, trials, trial, result, **info):
        row = self.row(trial)
        row["state"] = "RUNNING"
        # score / metric: what a fine-tuning trial reports (its task metric; the SuperGLUE spaces maximise it)
        for key in ("epoch", "val_loss", "test_loss", "wall_s", "tokens_per_s", "mfu", "diverged", "score", "metric"):
            if result.get(key) is not None:
                row[key] = result[key]
        if "wall_s" in result:
            row["gpu_s"] = result["wall_s"] * self.gpus_per_trial
        if result.get("val_loss") is not None:
            row["best_val_loss"] = min(row.get("best_val_loss", math.inf), result["val_loss"])
        history = Path(self.experiment_dir) / HISTORY
        new = not history.exists()
        with open(history, "a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(HISTORY_COLUMNS)
            writer.writerow([trial.trial_id, result.get("epoch"), result.get("val_loss"), result.get("wall_s"),
                             f"{time.time():.3f}"])
        self.dirty = True

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
        hf = Path(checkpoint.path) / "hf"
        if hf.is_dir():  # only the final checkpoint holds the Hugging Face model
            self.row(trial)["checkpoint"] = str(hf)
            self.dirty = True

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.row(trial)["state"] = "TERMINATED"
        self.dirty = True

    def on_trial_error(self, iteration, trials, trial, **info):
        self.row(trial)["state"] = "ERROR"
        self.dirty = True

    def on_step_end(self, iteration, trials, **info):
        # Called after Ray saved its experiment state for this step (see the module docstring). Ray has no
        # pause callback either: PAUSED / PENDING / RUNNING changes are read off the trial list here.
        for trial in trials:
            row = self.rows.get(trial.trial_id) if self.rows is not None else None
            if row is not None and row["state"] != trial.status:
                row["state"] = trial.status
                self.dirty = True
        if self.dirty:
            self.save()

    def on_experiment_end(self, trials, **info):
        self.on_step_end(None, trials)

    def __getstate__(self):  # pickled into Ray's experiment state: rows are rebuilt from results.csv
        state = dict(self.__dict__)
        state["rows"] = None
        return state
