"""The Ray Tune callback that keeps an experiment's results table (its format: sweep/table.py) up to date.

The table is rewritten atomically, and only at the end of a controller step, after Ray has saved its own
experiment state: the table never claims a trial finished before Ray could restore it as finished, so a
driver killed at any moment is resumed without re-running what the table shows as done."""
import csv
import functools
import os
import json
import math
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from ray.tune import Callback

from .table import ERROR, EVALUATION, FINISHED, HISTORY, TABLE, history_columns, merge_evaluation, order_columns, \
    read_table, write_table

REPORTED = ("epoch", "val_loss", "test_loss", "wall_s", "tokens_per_s", "mfu", "diverged",
            "score", "metric")  # score / metric: a fine-tuning trial's task metric (the SuperGLUE spaces maximise it)


UNFINISHED = ("RUNNING", "PAUSED", "PENDING")


def reached_schedule_end(row: dict) -> bool:
    """Whether a trial's row shows it at the end of its own schedule (its last epoch at its num_epochs); False
    when the table cannot tell (a trainable without num_epochs)."""
    epoch, planned = row.get("epoch"), row.get("config/num_epochs")
    try:
        return epoch is not None and planned is not None and float(epoch) >= float(planned) - 1e-9
    except (TypeError, ValueError):
        return False


@contextmanager
def storage_guard(path, exp):
    """Inside a Ray Tune callback: an OS error of the storage (a full disk) while writing `path` ends the run
    cleanly (sweep/stopping.py: Ray saves its state, every trial kept) and is raised after it, as one line naming
    the path, instead of a traceback out of Ray's loop with the sweep half-stopped. Once the run is ending for it,
    later failures of the same kind are let go."""
    from trainables.errors import StorageError
    from trainables.files import storage_error

    from .stopping import STOP, request_stop

    try:
        yield
    except OSError as e:
        original = e.__cause__ if isinstance(e, StorageError) and isinstance(e.__cause__, OSError) else e
        converted = storage_error(path, original)
        if not isinstance(converted, StorageError):
            raise
        if isinstance(STOP.error, StorageError):
            return
        exp = Path(exp)
        error = StorageError.of(path, OSError(converted.errno, os.strerror(converted.errno)),
                                f"the sweep stopped with every trial saved as it stood: once there is space, "
                                f"`babysweep resume {exp.name} --storage {exp.parent}` goes on")
        if not request_stop(error):
            raise error from None


def ends_a_line(path) -> bool:
    """Whether the file at `path` is empty or ends with a newline."""
    with open(path, "rb") as f:
        f.seek(0, 2)
        if f.tell() == 0:
            return True
        f.seek(-1, 2)
        return f.read(1) == b"\n"


def history_header(path) -> list[str] | None:
    """The columns of the history file at `path` (its first line), None when it has none yet."""
    try:
        with open(path, newline="") as f:
            first = f.readline()
    except FileNotFoundError:
        return None
    return next(csv.reader([first]), None) if first.strip() else None


def better(value, than, mode: str) -> bool:
    """Is `value` a better score than `than` (None or NaN: none yet) for `mode`? Ties are not: the earlier stays."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if than is None or (isinstance(than, float) and math.isnan(than)):
        return True
    return value > than if mode == "max" else value < than


class ResultsTable(Callback):
    """Writes results.csv and history.csv into the experiment folder.

    Ray pickles it into tuner.pkl (as sweep.results.ResultsTable) and restores it on resume, also from folders
    written by earlier versions: keep its module, name and attributes."""

    def __init__(self, experiment_dir, to_config, gpus_per_trial=0.0, extra_columns=None, keep="last",
                 metric="val_loss", mode="min"):
        self.experiment_dir = str(experiment_dir)
        self.keep = keep  # which checkpoint the `checkpoint` column names: the trial's "last", or its "best" by metric
        self.metric, self.mode = metric, mode  # the experiment's own (val_loss, min; a fine-tuning space's score, max)
        self.to_config = to_config  # maps a trial's (searcher) config to the trainable's arguments
        self.gpus_per_trial = gpus_per_trial
        self.extra_columns = extra_columns or {}  # {trial config key: column}, e.g. rerun links
        self.rows = None
        self.dirty = False

    def relocate(self, experiment_dir):
        """Point a callback restored from tuner.pkl at the folder the experiment is in now: Ray restores it with
        the absolute paths of the folder it was launched in, which a moved or re-mounted storage no longer has."""
        from trainables.relocation import reroot

        old, new = Path(self.experiment_dir), Path(experiment_dir)
        self.experiment_dir = str(new)
        mapper = self.to_config
        if isinstance(mapper, functools.partial) and mapper.args and str(mapper.args[0]).startswith(str(old) + "/"):
            moved = new / Path(mapper.args[0]).relative_to(old)  # the space copy the config mapper reads
            # the --set settings of the launch the table's config/ columns show (a checkpoint to fine-tune, in the
            # storage), at the storage's new place
            keywords = {**mapper.keywords}
            if isinstance(keywords.get("extra"), dict):
                keywords["extra"] = {k: reroot(v, str(old.parent), str(new.parent), own=str(old))
                                     for k, v in keywords["extra"].items()}
            self.to_config = functools.partial(mapper.func, str(moved), *mapper.args[1:], **keywords)

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
        from .folder import tables_lock

        df = order_columns(pd.DataFrame(list(self.rows.values())))
        exp = Path(self.experiment_dir)
        with storage_guard(exp / TABLE, exp), tables_lock(exp):  # evaluate merges into the same table (analysis/evaluate)
            # scores of a concurrent evaluate; a damaged evaluation.csv is a warning here, never the sweep's end
            df = merge_evaluation(df, exp / EVALUATION, strict=False)
            write_table(df, exp / TABLE)
        self.dirty = False

    def on_trial_start(self, iteration, trials, trial, **info):
        from . import failures

        failures.POLICY.saw_start(trial.trial_id)  # the fail-fast rule looks at the first trials to start
        row = self.row(trial)
        row["state"] = "RUNNING"
        row.setdefault("started_at", round(time.time(), 3))  # first start, for trial start latency
        self.dirty = True

    def on_trial_result(self, iteration, trials, trial, result, **info):
        from . import failures

        failures.POLICY.saw_report()  # the fail-fast rule applies before a run's first report only
        row = self.row(trial)
        row["state"] = "RUNNING"
        metric, mode = self.ranked_by()
        for key in (*REPORTED, metric):  # the space's metric, whatever its name (a trainable of the user's)
            if result.get(key) is not None:
                row[key] = result[key]
        # where the trial runs now (Ray adds node_ip and pid to every result; node_id comes from our reporter,
        # as two nodes on one machine share an address)
        if result.get("warning"):  # e.g. a damaged checkpoint skipped for the previous one (trainables/loop.py)
            row["warning"] = result["warning"]
        for key, column in (("node_ip", "node"), ("node_id", "node_id"), ("pid", "worker_pid")):
            if result.get(key) is not None:
                row[column] = result[key]
        if "wall_s" in result:
            row["gpu_s"] = result["wall_s"] * self.gpus_per_trial
        if result.get("val_loss") is not None:
            row["best_val_loss"] = min(row.get("best_val_loss", math.inf), result["val_loss"])
        # the best of the sweep's own metric so far, by its mode; a diverged report's score says nothing of the model
        if metric != "val_loss" and not result.get("diverged") and better(result.get(metric),
                                                                          row.get(f"best_{metric}"), mode):
            row[f"best_{metric}"] = result[metric]
        history = Path(self.experiment_dir) / HISTORY
        with storage_guard(history, self.experiment_dir):
            # in the file's own columns: a history begun by an earlier version (without the metric) keeps its
            # header, so that no line has more fields than it (read_history would skip it as torn)
            columns = history_header(history)
            with open(history, "a", newline="") as f:
                # appended, never rewritten: read_history skips a torn line (a kill, a full disk mid-line); one torn
                # before is ended first, so that it does not swallow this report
                if columns is not None and not ends_a_line(history):
                    f.write("\n")
                writer = csv.writer(f)
                if columns is None:
                    columns = history_columns(metric)
                    writer.writerow(columns)
                now = {"trial_id": trial.trial_id, "time": f"{time.time():.3f}"}
                writer.writerow([now[c] if c in now else result.get(c) for c in columns])
        self.dirty = True

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
        # The model to score where the trial stands: the final checkpoint's Hugging Face folder, or any pretraining
        # checkpoint (it holds config.json, the tokenizer and the weights); babysweep.json says at which report
        path = Path(checkpoint.path)
        model = path / "hf" if (path / "hf").is_dir() else path if (path / "config.json").is_file() else None
        if model is None:
            return
        about = model / "babysweep.json"
        metrics = json.loads(about.read_text()).get("metrics", {}) if about.is_file() else {}
        # babysweep.json's metrics are those of the model in the folder: a fine-tuning run that keeps its best epoch
        # writes that epoch's report beside its model
        row = self.row(trial)
        # a callback pickled by an earlier version has no keep (it kept the last)
        keep = getattr(self, "keep", "last")
        metric, mode = self.ranked_by()
        value, column = metrics.get(metric), f"checkpoint_{metric}"
        # A fine-tuning trial writes the model it keeps (its best epoch so far) into every checkpoint: a later
        # checkpoint holding the same epoch's model is named instead, for Ray keeps a trial's latest checkpoint and
        # its best-scoring one only, and may delete the one named before; so is any when that one is gone
        same_model = metrics.get("epoch") is not None and metrics.get("epoch") == row.get("checkpoint_epoch") \
            and value == row.get(column)
        named = row.get("checkpoint")
        if keep == "best" and isinstance(named, str) and Path(named).exists() and not same_model \
                and not better(value, row.get(column), mode):
            return
        row.update({"checkpoint": str(model), "checkpoint_epoch": metrics.get("epoch"),
                    "checkpoint_val_loss": metrics.get("val_loss"), column: value})
        self.dirty = True

    def ranked_by(self) -> tuple:
        """(metric, mode) of the experiment; a callback pickled by an earlier version has neither: it ranked by
        val_loss (min)."""
        return getattr(self, "metric", "val_loss"), getattr(self, "mode", "min")

    def on_trial_complete(self, iteration, trials, trial, **info):
        # Ray calls this when a trial ends for good: its schedule done, or its scheduler's STOP. The one proof of an
        # ending the table records (see on_step_end): `ended` says which, for reconcile_with_table and readers
        row = self.row(trial)
        row["state"] = FINISHED
        row["ended"] = "completed" if reached_schedule_end(row) else "stopped"
        self.dirty = True

    def retain_ended(self):
        """Once the table (just saved) and Ray's state (saved before this step's end) both record a trial's end: its
        checkpoints keep its model and lose their training state (trainables/retention.py). After both saves, so
        that a resume never meets a slimmed trial it would run on: one the table proves ended is kept as it is."""
        from trainables.retention import slim_trial

        done = self.__dict__.setdefault("retained", set())  # absent from callbacks pickled before retention
        for tid, row in (self.rows or {}).items():
            if tid in done or row.get("ended") not in ("completed", "stopped"):
                continue
            trial_dir = Path(self.experiment_dir) / f"trial_{tid}"
            with storage_guard(trial_dir, self.experiment_dir):
                slim_trial(trial_dir, row.get("checkpoint") if isinstance(row.get("checkpoint"), str) else None)
            done.add(tid)

    def on_trial_error(self, iteration, trials, trial, **info):
        row = self.record_failure(trial)
        row["state"], row["ended"] = ERROR, "error"

    def on_trial_recover(self, iteration, trials, trial, **info):
        # failed, and Ray retries it from its latest checkpoint (sweep/failures.py): its state follows in on_step_end
        self.record_failure(trial)

    def record_failure(self, trial) -> dict:
        """The trial's error: a one-line summary and the count of failures in its row, the full text copied into the
        experiment folder (Ray's own copy is in its temporary session folder)."""
        from . import failures

        row = self.row(trial)
        row["failures"] = trial.run_metadata.num_failures
        summary = failures.POLICY.summaries.get(trial.trial_id)
        if summary:
            row["error"] = summary
        with storage_guard(failures.error_file(self.experiment_dir, trial.trial_id), self.experiment_dir):
            kept = failures.keep_error_text(trial, self.experiment_dir)
            if kept is not None:
                row["error_file"] = str(kept)
        failures.POLICY.check_fail_fast(trial, row.get("error_file"))
        self.dirty = True
        return row

    def on_step_end(self, iteration, trials, **info):
        # Called after Ray saved its experiment state for this step (see the module docstring). Ray has no
        # pause callback either: PAUSED / PENDING / RUNNING changes are read off the trial list here. An ending is
        # not: Ray also marks TERMINATED the trials it stops because the driver is ending (Ctrl-C, SIGTERM,
        # fail-fast), which have not ended and go on at the next resume; the table records an ending only from
        # on_trial_complete and on_trial_error, and keeps such a trial as it last stood.
        for trial in trials:
            row = self.rows.get(trial.trial_id) if self.rows is not None else None
            if row is not None and row["state"] != trial.status and trial.status in UNFINISHED:
                row["state"] = trial.status
                row.pop("ended", None)  # retried (resume --retry-errored): it has not ended any more
                self.dirty = True
        if self.dirty:
            self.save()
        self.retain_ended()
        from .folder import keep_whole_ray_state

        with storage_guard(Path(self.experiment_dir), self.experiment_dir):
            keep_whole_ray_state(Path(self.experiment_dir), self.__dict__.setdefault("ray_state_seen", {}))

    def on_experiment_end(self, trials, **info):
        self.on_step_end(None, trials)

    def __getstate__(self):  # pickled into Ray's experiment state: rows are rebuilt from results.csv
        state = dict(self.__dict__)
        state["rows"] = None
        state.pop("ray_state_seen", None)
        return state
