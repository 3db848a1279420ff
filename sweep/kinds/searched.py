"""The searched sweep: a search space sampled by BOHB (TuneBOHB + HyperBandForBOHB, with babysweep's fixes in
sweep/bohb.py), or by ASHA or random search on the same priors and budget, for comparisons."""
import functools
import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from search_spaces.loader import load_space

from ..errors import SweepError
from ..folder import SPACE, experiment_dir
from ..runtime import TunerParts, check_address
from .base import (TRAINABLES, ExperimentSpec, absolute_paths, accepted_names, as_launched, check_trial_config,
                   resolve_trainable)

ALGOS = ("bohb", "asha", "random")
SCAN = "scan"  # not searched: a grid of its own (ScanSpec)


SEEDING = ("per_trial", "fixed")


def trial_seed(sweep_seed: int, sampled: dict) -> int:
    """A trial's initialisation seed: a hash of the sweep's seed and the configuration the searcher sampled, so
    trials differ, and the same sweep seed (which fixes what the searcher samples) gives the same seeds."""
    text = json.dumps([int(sweep_seed), sorted(sampled.items())], default=str)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") % 2**31


def space_config(space_file, config, sweep_seed=None):
    """A searcher's config -> the trainable's arguments (log-normal parameters exponentiated, constants added).
    With sweep_seed (seeding per_trial), each trial gets its own initialisation seed on the data order of the
    space's `seed` constant (the paper's sweep: a new initialisation per run, one data order)."""
    out = load_space(space_file).to_trainable_config(config)
    if sweep_seed is not None:
        out["data_seed"] = out.get("data_seed", out.get("seed", sweep_seed))
        out["seed"] = trial_seed(sweep_seed, config)
    return out


def table_config(space_file, config, sweep_seed=None, extra=None):
    """The trainable's arguments as the results table records them: the space's, under the --set values."""
    return {**space_config(space_file, config, sweep_seed), **(extra or {})}


def run_trial(config, space_file, trainable_spec, extra, sweep_seed=None, constant_schedule="constant"):
    """What each trial runs. Its name is part of Ray's saved state (a restore checks it): keep it."""
    config = as_launched(space_config(space_file, config, sweep_seed), constant_schedule)
    resolve_trainable(trainable_spec)({**config, **extra})


@dataclass(kw_only=True)
class SweepSpec(ExperimentSpec):
    KIND: ClassVar[str] = "sweep"

    space: str
    trainable: str | None = None     # None: the space file's `trainable:` key
    algo: str = "bohb"
    samples: int = 16
    max_concurrent: int | None = None
    reduction_factor: float = 3.0
    seed: int = 0                    # seeds the searcher
    space_source: str | None = None  # the space file launched, as an absolute path (the folder keeps a copy)
    seeding: str = "per_trial"       # per_trial: each trial its own initialisation seed; fixed: the space's seed
    max_budget: float | None = None  # compute budget: total epochs over all trials (no new trial once spent)
    max_hours: float | None = None   # ... trial-hours
    max_gpu_hours: float | None = None  # ... GPU-hours

    def rung_budgets(self, space) -> tuple[list, dict, str]:
        """(sorted rung budgets in epochs, {bracket: rungs} for BOHB, a sentence saying where they come from): where
        this sweep's scheduler compares and stops trials (sweep/rungs.py, the scheduler's own arithmetic)."""
        from ..rungs import asha_rungs, bracket_rungs

        eta = float(self.reduction_factor or 3.0)
        if self.algo == "bohb":
            step = {**space.constants, **self.extra}.get("budget_step")
            brackets = bracket_rungs(space.budget_min, space.budget_max, eta, step)
            rungs = sorted({r for b in brackets.values() for r in b})
            return rungs, dict(sorted(brackets.items())), (
                f"HyperBand brackets of budget {space.budget_min:g} to {space.budget_max:g} epochs with eta = {eta:g}")
        if self.algo == "asha":
            return (asha_rungs(space.budget_min, space.budget_max, eta), {},
                    f"ASHA milestones from {space.budget_min:g} epochs with eta = {eta:g}")
        return [], {}, f"no rungs: {self.algo} does not stop trials early"

    @property
    def is_scan(self) -> bool:
        """Asked for as `--algo scan`: launched as a ScanSpec grid (sweep/scan.py), never searched."""
        return self.algo == SCAN

    def check_scan_points(self, points, params=None) -> None:
        for flag, given in (("--scan-points", points), ("--scan-params", ",".join(params or []) or None)):
            if given is not None and not self.is_scan:
                raise SweepError(f"{flag} {given}: only for --algo {SCAN} (this is --algo {self.algo})")

    def prepare(self):
        """Check everything that can be checked before Ray starts, then settle the spec (absolute paths, a name)."""
        from trainables.data.prepared import open_prepared

        if self.algo not in ALGOS:
            raise SweepError(f"--algo {self.algo}: unknown algorithm (use {', '.join(ALGOS)}, or {SCAN})")
        if self.seeding not in SEEDING:
            raise SweepError(f"--seeding {self.seeding}: must be one of {', '.join(SEEDING)}")
        space = load_space(self.space)
        fn = self.settle_trainable(space)
        self.check_keep()  # once the trainable is known: keep defaults to best for finetune
        accepted = accepted_names(fn)
        if accepted is not None:
            space.check_names(accepted, self.trainable)
        searched = sorted(set(self.extra) & set(space.params))
        if searched:  # it would override every draw: the searcher would learn from a parameter with no effect
            raise SweepError(f"--set {searched[0]}: {searched[0]} is searched by {space.path}; --set fixes the "
                             f"space's constants and the trainable's settings only (to fix a searched parameter, "
                             f"make it a constant in a copy of the space)")
        if accepted is None or not {"seed", "data_seed"} <= accepted:
            self.seeding = "fixed"  # the trainable cannot take an initialisation seed apart from its data order
        if self.data is not None:
            open_prepared(self.data)
        if self.samples < 1:
            raise SweepError(f"--samples {self.samples}: must be at least 1")
        for flag, value in (("--max-budget", self.max_budget), ("--max-hours", self.max_hours),
                            ("--max-gpu-hours", self.max_gpu_hours)):
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise SweepError(f"{flag} {value}: must be a positive number")
        if self.max_budget is not None and self.max_budget < space.budget_min:
            raise SweepError(f"--max-budget {self.max_budget:g}: below one trial's minimum budget "
                             f"({space.budget_min:g} epochs in {space.path})")
        self.check_resources()
        if self.address:
            check_address(self.address)
        self.name = self.name or f"{space.name}-{self.algo}-{time.strftime('%Y%m%d-%H%M%S')}"
        self.space_source = str(Path(self.space).resolve())
        if self.data is not None:
            self.data = str(Path(self.data).resolve())
            self.extra = {"data": self.data, **self.extra}
        self.extra = absolute_paths(fn, self.extra)
        check_trial_config(fn, as_launched({**space.centre(), **self.extra}, self.constant_schedule))
        self.storage = str(experiment_dir(self.storage, self.name).parent)

    def settle_trainable(self, space):
        """The trainable: --trainable when given (a note says so when the space file names another), else the one
        the space file names (its `trainable:` key)."""
        if self.trainable is None:
            self.trainable = space.trainable
            try:
                return resolve_trainable(self.trainable)
            except SweepError as e:  # name the file, not an option the user did not give
                raise SweepError(str(e).replace(f"--trainable {self.trainable}",
                                                f"{space.path}: trainable {self.trainable}", 1)) from None
        if TRAINABLES.get(self.trainable, self.trainable) != TRAINABLES.get(space.trainable, space.trainable):
            print(f"babysweep: note: --trainable {self.trainable} is used; {space.path} names {space.trainable}",
                  file=sys.stderr)
        return resolve_trainable(self.trainable)

    def space_file(self):
        return self.space

    def tuner_parts(self, exp):
        space_file = str(exp / SPACE)
        space = load_space(space_file)
        sweep_seed = self.seed if self.seeding == "per_trial" else None
        return TunerParts(
            trainable=self.with_resources(run_trial, space_file=space_file, trainable_spec=self.trainable,
                                          extra=self.extra, sweep_seed=sweep_seed,
                                          constant_schedule=self.constant_schedule),
            callbacks=self.callbacks(exp, functools.partial(table_config, space_file, sweep_seed=sweep_seed,
                                                            extra=self.extra)),
            # the concurrency limit lives in the searcher (TuneBOHB's max_concurrent): Ray's generic limiter
            # would also count paused trials
            search_alg=self.searcher(space), scheduler=self.scheduler(space), num_samples=self.samples,
            shown=list(space.params), **self.checkpoint_parts(exp))

    def searcher(self, space):
        import numpy as np

        from ..bohb import ResumableTuneBOHB
        from ..budget import ComputeBudget

        # hpbandster draws its random-vs-model choice from numpy's global generator: seed it too
        np.random.seed(self.seed)
        # ASHA and random search sample the very same priors: BOHB's sampler with model-based picks turned off
        bohb_config = None if self.algo == "bohb" else {"random_fraction": 1.0}
        searcher = ResumableTuneBOHB(space=space.to_configspace(seed=self.seed), bohb_config=bohb_config,
                                     metric=space.metric, mode=space.mode, seed=self.seed,
                                     max_concurrent=self.max_concurrent or 0)
        if all(v is None for v in (self.max_budget, self.max_hours, self.max_gpu_hours)):
            return searcher
        return ComputeBudget(searcher, epochs=self.max_budget, hours=self.max_hours, gpu_hours=self.max_gpu_hours,
                             gpus_per_trial=self.gpus_per_trial)

    def scheduler(self, space):
        from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

        from ..bohb import ResumableHyperBandForBOHB

        if self.algo == "bohb":
            return ResumableHyperBandForBOHB(time_attr="epoch", metric=space.metric, mode=space.mode,
                                             max_t=space.budget_max, min_t=space.budget_min,
                                             budget_unit=min(space.budget_min, float(
                                                 {**space.constants, **self.extra}.get("budget_step", math.inf))),
                                             reduction_factor=self.reduction_factor)
        if self.algo == "asha":
            return ASHAScheduler(time_attr="epoch", metric=space.metric, mode=space.mode, max_t=space.budget_max,
                                 grace_period=space.budget_min, reduction_factor=self.reduction_factor)
        return FIFOScheduler()
