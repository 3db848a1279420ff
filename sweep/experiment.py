"""Reading an experiment: `load_experiment(name, storage)` returns one object that owns the folder's file names,
the typed spec, the search space, the results table with the evaluation scores merged, the history, and the
selection rules. status, rerun, evaluate and the analyses read through it.

    exp = load_experiment("teacher", "runs")
    exp.table                    # one row per trial: ids as strings, diverged as booleans, BLiMP scores merged
    exp.best_trial()             # the row sweep.selection defines as best (None while no trial is complete)
    exp.complete_trials()        # Ranked(trials, notes): what `rerun` picks its top K from, best first
    exp.history                  # one row per report

What a reader sees is consistent as sweep/folder.py describes: the table may be a step ahead of Ray's saved
state after a crash, never behind it; every file is replaced atomically, so it is never half-written. And it is
checked: every table is read through sweep/table.py's schema, so a damaged file is a one-line SweepError naming
it (its line, column and value), never data; a table whose trials reported but which lacks the sweep's metric, or
a history cut short of what the table records, is refused the same way.
"""
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from search_spaces.loader import load_space
from trainables.errors import UserError
from trainables.files import atomic_path, write_json, write_text  # noqa: F401  (the project's atomic writers)

from . import folder, selection
from .errors import SweepError
from .folder import DEFAULT_STORAGE, DRIVER, RECORD, SPACE  # noqa: F401
from .kinds import ExperimentSpec, spec_from_record
from .table import (EVALUATION, FINISHED, HISTORY, STATES, TABLE, check_history_covers, check_reported, history_columns,
                    merge_evaluation, read_history, read_table, require_column)


@dataclass
class Experiment:
    path: Path
    record: dict                 # sweep.json as written (older folders carry keys a spec no longer has)

    @cached_property
    def spec(self) -> ExperimentSpec:
        """The typed spec of the record (read when asked: the analyses need only the table)."""
        return spec_from_record(self.record, self.path / RECORD)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def kind(self) -> str:
        return self.record["kind"]

    # ------------------------------------------------------------------ files
    @property
    def table_path(self) -> Path:
        return self.path / TABLE

    @property
    def history_path(self) -> Path:
        return self.path / HISTORY

    @property
    def evaluation_path(self) -> Path:
        return self.path / EVALUATION

    @property
    def analysis_dir(self) -> Path:
        return self.path / "analysis"

    # ------------------------------------------------------------------ contents
    @cached_property
    def space(self):
        return load_space(self.path / SPACE)

    @property
    def has_table(self) -> bool:
        return self.table_path.is_file()

    @property
    def metric(self) -> str:
        """The space's metric; val_loss (what every babysweep trainable reports) when the folder has no readable
        copy of its space."""
        return self.metric_and_mode()[0]

    def metric_and_mode(self) -> tuple:
        """(the space's metric, its mode: min or max); (val_loss, min) when the folder has no readable space."""
        from search_spaces.loader import SpaceError

        try:
            return self.space.metric, self.space.mode
        except (SpaceError, OSError):
            return "val_loss", "min"

    def history_metric(self) -> tuple:
        """(metric, mode) the history's curves are drawn in: the space's, or val_loss (min) for a history written
        before babysweep recorded the space's metric there (a fine-tuning sweep's, then val_loss alone)."""
        metric, mode = self.metric_and_mode()
        history = self.history
        return (metric, mode) if metric in history.columns or "val_loss" not in history.columns else ("val_loss", "min")

    @property
    def finetunes(self) -> bool:
        """Whether its trials fine-tune a pretrained model on a (Super)GLUE task (the spec's, sweep/kinds/base.py):
        what follows such a sweep is finetune-all with its best configuration, not BLiMP scoring of its models."""
        return self.spec.finetunes

    @cached_property
    def table(self) -> pd.DataFrame:
        """results.csv with evaluation.csv merged (an empty table while no trial has started), both checked
        (sweep/table.py); SweepError naming the file at the first thing wrong."""
        if not self.has_table:
            return pd.DataFrame(columns=["trial_id", "state", "epoch", "val_loss"])
        table = read_table(self.table_path)
        check_reported(table, self.table_path, self.metric)
        return merge_evaluation(table, self.evaluation_path)

    @cached_property
    def history(self) -> pd.DataFrame:
        """history.csv, checked (sweep/table.py: torn lines skipped with a warning) and against the results table:
        a history that lacks reports the table records is a SweepError."""
        if not self.history_path.is_file():
            return pd.DataFrame(columns=history_columns(self.metric))
        history = read_history(self.history_path, metric=self.metric)
        if self.has_table:
            check_history_covers(history, self.table, self.history_path, self.table_path)
        return history

    def require_column(self, column: str, why: str) -> pd.DataFrame:
        """The table, or a SweepError naming results.csv and `column` when it lacks that column (`why` needs it)."""
        table = self.require_table()
        require_column(table, self.table_path, column, why)
        return table

    def require_table(self) -> pd.DataFrame:
        if not self.has_table:
            raise SweepError(f"sweep {self.name!r} has no results table yet ({self.table_path})")
        return self.table

    def state_counts(self) -> dict:
        states = self.table["state"]
        return {s: int((states == s).sum()) for s in STATES if (states == s).any()}

    def driver(self) -> str:
        return folder.driver_state(self.path)

    # ------------------------------------------------------------------ selection rules (sweep/selection.py)
    def ranked_table(self) -> pd.DataFrame:
        """The table the selection rules rank: SweepError naming results.csv when trials finished but it has no
        epoch column (the budget each reached, which says whether it completed its schedule)."""
        table = self.table
        if len(table) and "epoch" not in table and (table["state"] == FINISHED).any():
            require_column(table, self.table_path, "epoch", "the budget each finished trial reached")
        return table

    @property
    def keep(self) -> str:
        """Which checkpoint each trial hands on: "best" by the metric, or "last" (a record written before keep
        existed, or a kind without it, kept the last)."""
        return getattr(self.spec, "keep", None) or "last"

    def complete_trials(self) -> selection.Ranked:
        """(trials, notes): the complete trials best first by the selection rule, and what was left out."""
        return selection.complete_trials(self.ranked_table(), self.space.budget_max, self.space.metric,
                                         self.space.mode, self.keep)

    def best_trial(self):
        return selection.best_trial(self.ranked_table(), self.space.budget_max, self.space.metric, self.space.mode,
                                    self.keep)

    def best_rule(self) -> str:
        return selection.best_rule(self.space.metric, self.space.mode, self.keep)


def load_experiment(name, storage=DEFAULT_STORAGE) -> Experiment:
    """The experiment `name` in `storage`; SweepError naming it when there is none."""
    exp = folder.find_experiment(name, storage)
    record = folder.read_record(exp)
    return Experiment(exp, record)


def list_experiments(storage=DEFAULT_STORAGE, source=None, kind=None) -> list[Experiment]:
    """The experiments in `storage`, by name: every folder holding a sweep.json. `kind`: only those whose spec is an
    instance of this spec class (SweepSpec, RerunSpec, ScanSpec, FamilySpec, EnsembleFamilySpec, or a tuple of
    them); `source`: only those made from the experiment of that name (re-runs of a sweep, a family's ensembles).
    A folder whose record cannot be read is not listed (`load_experiment` of it says why)."""
    root = Path(storage).expanduser()
    try:
        folders = sorted(p for p in root.iterdir() if (p / RECORD).is_file())
    except OSError:
        return []
    found = []
    for path in folders:
        try:
            exp = Experiment(path, folder.read_record(path))
            spec = exp.spec
        except UserError:
            continue
        if kind is not None and not isinstance(spec, kind):
            continue
        if source is not None and getattr(spec, "source", None) != source:
            continue
        found.append(exp)
    return found
