"""The fixed-configuration grid: given configurations run at their full budget, no searcher, no early stopping.
`babysweep rerun` (sweep/rerun.py) plans one run per (configuration, new seed) and launches it as this kind;
`--algo scan` (sweep/scan.py) one run per point of its one-at-a-time scan."""
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from trainables.relocation import reroot

from ..folder import SPACE, moved_roots
from ..table import FINISHED, TABLE, read_table
from ..runtime import TunerParts, fit
from .base import ExperimentSpec, as_launched, resolve_trainable


def rerun_config(config):
    """A grid trial's config -> the trainable's arguments (the planned run, less its link to the source)."""
    return {k: v for k, v in config["run"].items() if k != "source_trial_id"}


def rerun_row(config):
    """A grid trial's config -> its row in the results table (with source_trial_id)."""
    return dict(config["run"])


def run_rerun_trial(config, trainable_spec, extra, constant_schedule="constant", moved=None):
    """What each trial runs. Its name is part of Ray's saved state (a restore checks it): keep it. `moved`: (the
    storage the experiment was launched in, the one it is in now) for a folder copied or moved since, whose trial
    configs Ray restores from its own saved state, paths of the launch included (sweep.folder.moved_roots)."""
    run = rerun_config(config)
    if moved:
        run = {k: reroot(v, *moved) for k, v in run.items()}
    resolve_trainable(trainable_spec)({**as_launched(run, constant_schedule), **extra})


@dataclass(kw_only=True)
class GridSpec(ExperimentSpec):
    """Given configurations at their full budget, as one Ray Tune grid; its roles below are what is built."""
    KIND: ClassVar[str] = "rerun"   # the tag sweep.json has always carried for this kind
    ROLE: ClassVar[str] = "rerun"
    ABOUT: ClassVar[str] = "fixed configurations of {space}"   # describe()'s line, filled from the spec

    runs: list                      # one trainable config per trial, each with seed and source_trial_id
    source: str | None = None       # the experiment whose trials are re-run
    source_experiment: str | None = None
    algo: str | None = None         # the role (ROLE, the default), shown by status as a sweep shows bohb/asha/random
    samples: int = 0
    seeds: list = field(default_factory=list)
    top_k: int | None = None
    baseline: bool = False
    reseed: str = "init"            # what the new seeds change: init, data or both (sweep/rerun.py)
    space: str | None = None        # the space file, when the grid re-runs no experiment (a scan: sweep/scan.py)
    notes: list = field(default_factory=list)

    def prepare(self):
        self.check_resources()
        self.check_keep()
        self.samples = len(self.runs)

    def space_file(self):
        return self.space or Path(self.source_experiment) / SPACE

    def tuner_parts(self, exp):
        from ray import tune

        return TunerParts(
            trainable=self.with_resources(run_rerun_trial, trainable_spec=self.trainable, extra=self.extra,
                                          constant_schedule=self.constant_schedule, moved=moved_roots(exp)),
            callbacks=self.callbacks(exp, rerun_row),
            # No max_concurrent_trials: Ray's grid generator saves its live-trial count separately from the trial
            # list, and after a crash a count of trials that no longer exist blocks it for good. Resources limit
            # concurrency instead (--cpus-per-trial, --gpus-per-trial).
            param_space={"run": tune.grid_search(self.runs)}, num_samples=1, total_trials=len(self.runs),
            shown=["source_trial_id", "seed"], **self.checkpoint_parts())

    def __post_init__(self):
        self.algo = self.algo or self.ROLE

    def rung_budgets(self, space) -> tuple[list, dict, str]:
        """No rungs: every configuration runs its full budget."""
        return [], {}, f"no rungs: {self.algo} does not stop trials early"

    def describe(self) -> str:
        """One line saying what this grid is, for status and the report."""
        about = self.ABOUT.format(source=self.source, top_k=self.top_k, space=self.space, n_seeds=len(self.seeds))
        return f"{about}: {len(self.runs)} run(s)"

    def missing_runs(self, exp) -> list[dict]:
        """Planned runs (source trial, seed) with no finished row in the results table."""
        done = set()
        if (exp / TABLE).exists():
            t = read_table(exp / TABLE)
            t = t[t["state"] == FINISHED]
            done = set(zip(t["source_trial_id"].astype(str), t["seed"].astype(int)))
        return [r for r in self.runs if (str(r["source_trial_id"]), int(r["seed"])) not in done]

    def after_resume(self, exp, verbose=1):
        missing = self.missing_runs(exp)
        if missing:
            # Runs Ray's stored state had not recorded yet when the driver died: start them now
            print(f"{len(missing)} planned re-run(s) were not in Ray's stored state: starting them")
            fit(exp, dataclasses.replace(self, runs=missing).tuner_parts(exp), verbose,
                max_failures=self.max_failures, fail_fast=self.fail_fast)


# ---------------------------------------------------------------------------------------------- its roles
# One grid, four roles. sweep.json has always recorded all four as kind "rerun" told apart by `algo`; the record
# keeps that form (old folders read as they are), and spec_from_record picks the role's class by it. Callers ask
# the class (isinstance, describe(), rungs()), never the string.


class RerunSpec(GridSpec):
    """`babysweep rerun`: a sweep's best configurations re-trained with new seeds (sweep/rerun.py)."""
    ROLE, ABOUT = "rerun", "re-run of {source}: its best {top_k} configuration(s), {n_seeds} new seed(s) each"


class ScanSpec(GridSpec):
    """`launch --algo scan`: each parameter moved alone through its prior's quantiles (sweep/scan.py)."""
    ROLE, ABOUT = "scan", "one-at-a-time scan of {space}: {top_k} point(s) per parameter"


class FamilySpec(GridSpec):
    """`babysweep replicate`: one recipe trained once per seed (sweep/replicate.py)."""
    ROLE, ABOUT = "replicate", "family of {space}: its recipe trained once per seed"


class EnsembleFamilySpec(GridSpec):
    """`replicate --ensemble-of`: direct ensembles of a family's models, built and scored in the driver (no
    training, nothing for Ray to resume: sweep/replicate.py)."""
    ROLE, ABOUT = "ensemble", "direct ensembles of {top_k} of {source}'s models"


ROLES = {role.ROLE: role for role in (RerunSpec, ScanSpec, FamilySpec, EnsembleFamilySpec)}


def grid_role(record: dict) -> type:
    """The role class of a grid record (kind "rerun", current format): by its algo."""
    return ROLES[record["algo"]]
