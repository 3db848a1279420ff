"""Reading an experiment: `load_experiment(name, storage)` returns one object that owns the folder's file names,
the typed spec, the search space, the results table with the evaluation scores merged, the history, and the
selection rules. status, rerun, evaluate and the analyses read through it.

    exp = load_experiment("teacher", "runs")
    exp.table                    # one row per trial: ids as strings, diverged as booleans, BLiMP scores merged
    exp.best_trial()             # the row sweep.selection defines as best (None while no trial is complete)
    exp.complete_trials()        # what `rerun` picks its top K from, best first, with notes
    exp.history                  # one row per report

What a reader sees is consistent as sweep/folder.py describes: the table may be a step ahead of Ray's saved
state after a crash, never behind it; every file is replaced atomically, so it is never half-written.
"""
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from search_spaces.loader import load_space
from trainables.files import atomic_path, write_json, write_text  # noqa: F401  (the project's atomic writers)

from . import folder, selection
from .errors import SweepError
from .folder import DEFAULT_STORAGE, DRIVER, RECORD, SPACE  # noqa: F401
from .kinds import ExperimentSpec, SweepSpec, spec_from_record
from .table import EVALUATION, HISTORY, STATES, TABLE, merge_evaluation, read_history, read_table


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
        return self.record.get("kind", SweepSpec.KIND)

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

    @cached_property
    def table(self) -> pd.DataFrame:
        """results.csv with evaluation.csv merged (an empty table while no trial has started)."""
        if not self.has_table:
            return pd.DataFrame(columns=["trial_id", "state", "epoch", "val_loss"])
        return merge_evaluation(read_table(self.table_path), self.evaluation_path)

    @cached_property
    def history(self) -> pd.DataFrame:
        if not self.history_path.is_file():
            return pd.DataFrame(columns=["trial_id", "epoch", "val_loss", "wall_s", "time"])
        return read_history(self.history_path)

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
    def complete_trials(self):
        return selection.complete_trials(self.table, self.space.budget_max, self.space.metric, self.space.mode)

    def best_trial(self):
        return selection.best_trial(self.table, self.space.budget_max, self.space.metric, self.space.mode)

    def best_rule(self) -> str:
        return selection.BEST_RULE.format(metric=self.space.metric, mode=self.space.mode)


def load_experiment(name, storage=DEFAULT_STORAGE) -> Experiment:
    """The experiment `name` in `storage`; SweepError naming it when there is none."""
    exp = folder.find_experiment(name, storage)
    record = folder.read_record(exp)
    return Experiment(exp, record)
