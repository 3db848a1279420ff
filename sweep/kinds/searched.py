"""The searched sweep: a search space sampled by BOHB (TuneBOHB + HyperBandForBOHB, with babysweep's fixes in
sweep/bohb.py), or by ASHA or random search on the same priors and budget, for comparisons."""
import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from search_spaces.loader import load_space

from ..errors import SweepError
from ..folder import SPACE, experiment_dir
from ..runtime import TunerParts, check_address
from .base import ExperimentSpec, accepted_names, resolve_trainable

ALGOS = ("bohb", "asha", "random")


def space_config(space_file, config):
    """A searcher's config -> the trainable's arguments (log-normal parameters exponentiated, constants added)."""
    return load_space(space_file).to_trainable_config(config)


def run_trial(config, space_file, trainable_spec, extra):
    """What each trial runs. Its name is part of Ray's saved state (a restore checks it): keep it."""
    resolve_trainable(trainable_spec)({**space_config(space_file, config), **extra})


@dataclass(kw_only=True)
class SweepSpec(ExperimentSpec):
    KIND: ClassVar[str] = "sweep"

    space: str
    algo: str = "bohb"
    samples: int = 16
    max_concurrent: int | None = None
    reduction_factor: float = 3.0
    seed: int = 0                    # seeds the searcher
    space_source: str | None = None  # the space file launched, as an absolute path (the folder keeps a copy)

    def prepare(self):
        """Check everything that can be checked before Ray starts, then settle the spec (absolute paths, a name)."""
        from trainables.data.prepared import open_prepared

        if self.algo not in ALGOS:
            raise SweepError(f"--algo {self.algo}: unknown algorithm (use {', '.join(ALGOS)})")
        fn = resolve_trainable(self.trainable)
        space = load_space(self.space)
        accepted = accepted_names(fn)
        if accepted is not None:
            space.check_names(accepted, self.trainable)
        if self.data is not None:
            open_prepared(self.data)
        if self.samples < 1:
            raise SweepError(f"--samples {self.samples}: must be at least 1")
        self.check_resources()
        if self.address:
            check_address(self.address)
        self.name = self.name or f"{space.name}-{self.algo}-{time.strftime('%Y%m%d-%H%M%S')}"
        self.space_source = str(Path(self.space).resolve())
        if self.data is not None:
            self.data = str(Path(self.data).resolve())
            self.extra = {"data": self.data, **self.extra}
        self.storage = str(experiment_dir(self.storage, self.name).parent)

    def space_file(self):
        return self.space

    def tuner_parts(self, exp):
        space_file = str(exp / SPACE)
        space = load_space(space_file)
        return TunerParts(
            trainable=self.with_resources(run_trial, space_file=space_file, trainable_spec=self.trainable,
                                          extra=self.extra),
            callbacks=self.callbacks(exp, functools.partial(space_config, space_file)),
            # the concurrency limit lives in the searcher (TuneBOHB's max_concurrent): Ray's generic limiter
            # would also count paused trials
            search_alg=self.searcher(space), scheduler=self.scheduler(space), num_samples=self.samples)

    def searcher(self, space):
        import numpy as np

        from ..bohb import ResumableTuneBOHB

        # hpbandster draws its random-vs-model choice from numpy's global generator: seed it too
        np.random.seed(self.seed)
        # ASHA and random search sample the very same priors: BOHB's sampler with model-based picks turned off
        bohb_config = None if self.algo == "bohb" else {"random_fraction": 1.0}
        return ResumableTuneBOHB(space=space.to_configspace(seed=self.seed), bohb_config=bohb_config,
                                 metric=space.metric, mode=space.mode, seed=self.seed,
                                 max_concurrent=self.max_concurrent or 0)

    def scheduler(self, space):
        from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

        from ..bohb import ResumableHyperBandForBOHB

        if self.algo == "bohb":
            return ResumableHyperBandForBOHB(time_attr="epoch", metric=space.metric, mode=space.mode,
                                             max_t=space.budget_max, reduction_factor=self.reduction_factor)
        if self.algo == "asha":
            return ASHAScheduler(time_attr="epoch", metric=space.metric, mode=space.mode, max_t=space.budget_max,
                                 grace_period=space.budget_min, reduction_factor=self.reduction_factor)
        return FIFOScheduler()
