"""What every experiment kind shares: the fields of its spec, the trainable lookup, the trial's resources and the
callbacks (results table, Weights & Biases).

A kind is a dataclass deriving from `ExperimentSpec` that sets `KIND` (the tag recorded in sweep.json) and
builds its Tuner parts:

    prepare()             check everything that can be checked before Ray starts (a one-line error otherwise),
                          then settle the spec for its record (absolute paths, a name)
    space_file()          the search space copied into the experiment folder
    tuner_parts(exp)      trainable wrapper, searcher, scheduler, param space, callbacks (sweep.runtime.TunerParts)
    after_resume(exp, v)  work left after Ray's own resume (default: none)

sweep/kinds/__init__.py registers the kinds; launch, resume, status and the results API go through it and never
test a kind's tag themselves.
"""
import dataclasses
import importlib
import os
from dataclasses import dataclass, field
from typing import ClassVar

from ..errors import SweepError
from ..folder import DEFAULT_STORAGE

KEEP = ("last", "best")
TRAINABLES = {"pretrain": "trainables.pretrain:pretrain", "finetune": "trainables.finetune:finetune"}


def resolve_trainable(spec: str):
    """'pretrain', 'finetune' or 'package.module:function' -> the function."""
    target = TRAINABLES.get(spec, spec)
    module_name, sep, fn_name = target.partition(":")
    if not sep or not module_name or not fn_name:
        raise SweepError(f"--trainable {spec}: unknown trainable (use {', '.join(TRAINABLES)} or package.module:function)")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise SweepError(f"--trainable {spec}: cannot import {module_name} ({e})") from None
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise SweepError(f"--trainable {spec}: {module_name} has no function {fn_name}")
    return fn


def accepted_names(fn):
    """The config keys a trainable declares (trainables.pretrain.ACCEPTED), or None when it declares none."""
    return getattr(importlib.import_module(fn.__module__), "ACCEPTED", None)


@dataclass
class ExperimentSpec:
    KIND: ClassVar[str] = ""

    name: str | None = None
    storage: str = DEFAULT_STORAGE
    trainable: str = "pretrain"
    data: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    address: str | None = None
    wandb: str | None = None                    # None, "offline" or "online"
    extra: dict = field(default_factory=dict)   # merged into every trial's config (data, checkpoint to fine-tune)
    keep: str = "last"                          # the checkpoint each trial is scored at: its last, or best val_loss

    # ------------------------------------------------------------------ the record in sweep.json
    def to_record(self) -> dict:
        return {"kind": self.KIND, **dataclasses.asdict(self)}

    @classmethod
    def from_record(cls, record: dict, source="sweep.json"):
        """The spec from sweep.json; keys a spec does not have (notes, paths kept for people) are left out."""
        fields = dataclasses.fields(cls)
        missing = [f.name for f in fields if f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING and f.name not in record]
        if missing:
            raise SweepError(f"{source}: a {cls.KIND} record needs {', '.join(missing)}")
        return cls(**{k: v for k, v in record.items() if k in {f.name for f in fields}})

    # ------------------------------------------------------------------ what kinds override
    def prepare(self):
        raise NotImplementedError

    def space_file(self):
        raise NotImplementedError

    def tuner_parts(self, exp):
        raise NotImplementedError

    def check_inputs(self):
        """Before a resume: the inputs a trial reads are still there."""
        if self.data:
            from trainables.data.prepared import open_prepared

            open_prepared(self.data)

    def after_resume(self, exp, verbose=1):
        """Work left once Ray's own resume has finished (the grid starts runs Ray never recorded)."""

    # ------------------------------------------------------------------ shared parts
    def check_keep(self):
        if self.keep not in KEEP:
            raise SweepError(f"--keep {self.keep}: must be one of {', '.join(KEEP)}")

    def checkpoint_parts(self) -> dict:
        """TunerParts fields for --keep: with best, Ray keeps each trial's best checkpoint by val_loss."""
        return {"keep_best_by": "val_loss" if self.keep == "best" else None}

    def check_resources(self):
        if self.cpus_per_trial <= 0 or self.gpus_per_trial < 0:
            raise SweepError("--cpus-per-trial must be > 0 and --gpus-per-trial >= 0")

    def with_resources(self, trial_fn, **parameters):
        """The trial function with its fixed arguments and the resources every trial asks Ray for."""
        from ray import tune

        return tune.with_resources(tune.with_parameters(trial_fn, **parameters),
                                   {"cpu": self.cpus_per_trial, "gpu": self.gpus_per_trial})

    def callbacks(self, exp, to_config) -> list:
        from ..results import ResultsTable

        cbs = [ResultsTable(exp, to_config, self.gpus_per_trial, extra_columns={"source_trial_id": "source_trial_id"},
                            keep=self.keep)]
        if self.wandb:
            from ray.air.integrations.wandb import WandbLoggerCallback

            os.environ["WANDB_MODE"] = self.wandb  # offline needs it in the driver and in the callback
            cbs.append(WandbLoggerCallback(project=f"babysweep-{self.name}", mode=self.wandb))
        return cbs
