"""What every experiment kind shares: the fields of its spec, the trainable lookup, the trial's resources and the
callbacks (results table, Weights & Biases).

A kind is a dataclass deriving from `ExperimentSpec` that sets `KIND` (the tag recorded in sweep.json) and
builds its Tuner parts:

    prepare()             check everything that can be checked before Ray starts (a one-line error otherwise),
                          then settle the spec for its record (absolute paths, a name, keep)
    space_file()          the search space copied into the experiment folder
    tuner_parts(exp)      trainable wrapper, searcher, scheduler, param space, callbacks (sweep.runtime.TunerParts)
    after_resume(exp, v)  work left after Ray's own resume (default: none)

sweep/kinds/__init__.py registers the kinds; launch, resume, status and the results API go through it and never
test a kind's tag themselves.

`keep` (--keep) is the checkpoint each trial is scored at: `last` (where it stopped) or `best` by the experiment's
own metric and mode (its space's: val_loss, min, for pretraining; score, max, for the fine-tuning spaces). Left
unset, it is `best` for the finetune trainable and `last` otherwise; prepare() settles it and sweep.json records
the settled value (a record without one, written before keep existed, means last). A trainable that keeps its own
best epoch (finetune's `keep` setting) is given the experiment's value in every trial's config.
"""
import dataclasses
import importlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ..errors import SweepError
from ..failures import DEFAULT_FAIL_FAST, DEFAULT_MAX_FAILURES, check_fail_fast, check_max_failures
from ..folder import DEFAULT_STORAGE, SPACE
from ..records import FORMAT

KEEP = ("last", "best")
TRAINABLES = {"pretrain": "trainables.pretrain:pretrain", "finetune": "trainables.finetune:finetune",
              "distill": "trainables.distill:distill"}


def resolve_trainable(spec: str):
    """'pretrain', 'finetune' or 'package.module:function' -> the function. The module is imported (its code runs:
    what naming a trainable asks for) only once its name has the form and it is found on the Python path without
    importing anything (search_spaces.loader.missing_module); until then nothing of it is run."""
    from search_spaces.loader import TRAINABLE_RE, missing_module

    target = TRAINABLES.get(spec, spec)
    module_name, sep, fn_name = target.partition(":")
    if not sep or not TRAINABLE_RE.match(target):
        raise SweepError(f"--trainable {spec}: unknown trainable (use {', '.join(TRAINABLES)} or package.module:function)")
    missing = missing_module(module_name)
    if missing is not None:
        raise SweepError(f"--trainable {spec}: cannot import {module_name} (no module {missing} on the Python path; "
                         f"nothing was imported)")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise SweepError(f"--trainable {spec}: cannot import {module_name} ({e})") from None
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise SweepError(f"--trainable {spec}: {module_name} has no function {fn_name}")
    return fn


def check_trial_config(fn, config: dict) -> None:
    """Before Ray starts: the trainable's own check (a `check_config(config)` beside it, e.g. trainables.pretrain's)
    of one trial's config, so that a missing --data or a bad --set value is one line here, not a traceback in every
    trial. A trainable module without one is not checked."""
    check = getattr(importlib.import_module(fn.__module__), "check_config", None)
    if check is not None:
        check(config)


def accepted_names(fn):
    """The config keys a trainable declares (trainables.pretrain.ACCEPTED), or None when it declares none."""
    return getattr(importlib.import_module(fn.__module__), "ACCEPTED", None)


def absolute_paths(fn, settings: dict) -> dict:
    """`settings` with the values of the trainable's path settings (trainables.finetune.PATHS: checkpoint,
    glue_dir, teachers, ...) made absolute against the working directory: a trial runs in its own folder, on any
    node, where `runs/teachers/.../hf` means nothing (seen: every trial failed with "no such model folder")."""
    paths = getattr(importlib.import_module(fn.__module__), "PATHS", ())

    def absolute(value):
        if isinstance(value, (list, tuple)):
            return [absolute(v) for v in value]
        return str(Path(value).expanduser().resolve()) if isinstance(value, (str, Path)) and str(value) else value

    return {k: absolute(v) if k in paths else v for k, v in settings.items()}


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
    keep: str | None = None                     # the checkpoint each trial is scored at: last, or best by the metric
                                                # (None: best for finetune, else last; settled by prepare)
    # what `lr_scheduler_type: constant` means for this experiment's trials: no warm-up (the authors' constant), or,
    # for an experiment launched before babysweep made it so, what it meant then (constant_with_warmup): a sweep
    # resumed, or re-run, trains every trial with the schedule it was launched with
    constant_schedule: str = "constant"
    # retries of a trial that lost its worker or node, from its latest checkpoint (sweep/failures.py); a record
    # written before this existed reads as the default (its trials then ran with none)
    max_failures: int = DEFAULT_MAX_FAILURES
    # trials failing alike before any report that stop a run (sweep/failures.py, check_fail_fast; 0: never)
    fail_fast: int = DEFAULT_FAIL_FAST

    # ------------------------------------------------------------------ the record in sweep.json
    def to_record(self) -> dict:
        return {"kind": self.KIND, "format": FORMAT, **dataclasses.asdict(self)}

    @classmethod
    def from_record(cls, record: dict, source="sweep.json"):
        """The spec from sweep.json in the current format (sweep/records.py upgrades older ones); keys a spec does
        not have (notes, paths kept for people) are left out."""
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
        """Before a resume: the inputs a trial reads are still there. A data folder that is gone is one line: one
        inside the storage moves with it (sweep/records.py), so a gone one lay outside it, the user's input."""
        if self.data:
            from trainables.data.prepared import open_prepared

            if not Path(self.data).is_dir():
                raise SweepError(f"experiment {self.name!r}: its data folder {self.data} is gone (the trials read "
                                 f"it; it lies outside the storage, so it does not move with the experiment): put "
                                 f"it back at that path to resume")
            open_prepared(self.data)

    def after_resume(self, exp, verbose=1):
        """Work left once Ray's own resume has finished (the grid starts runs Ray never recorded)."""

    # ------------------------------------------------------------------ what the trials are
    @property
    def finetunes(self) -> bool:
        """Whether the trials fine-tune a pretrained model on a (Super)GLUE task (the finetune trainable, by its
        short name or its module path): the one place that asks, for the defaults (keep) and the next steps a report
        suggests (finetune-all with the best configuration, not BLiMP scoring)."""
        return self.trainable is not None and TRAINABLES.get(self.trainable, self.trainable) == TRAINABLES["finetune"]

    @property
    def pretrained_checkpoint(self) -> str | None:
        """The model a fine-tuning experiment's trials start from (--set checkpoint=...), None for any other."""
        return self.extra.get("checkpoint") if self.finetunes else None

    # ------------------------------------------------------------------ shared parts
    def check_keep(self):
        """Settle keep (None: best for the finetune trainable, else last), check it, and hand it to a trainable that
        keeps its own best epoch (one that takes a `keep` argument), unless --set gives that a value of its own."""
        if self.keep is None:
            self.keep = "best" if self.finetunes else "last"
        if self.keep not in KEEP:
            raise SweepError(f"--keep {self.keep}: must be one of {', '.join(KEEP)}")
        accepted = accepted_names(resolve_trainable(self.trainable))
        if accepted is not None and "keep" in accepted and "keep" not in self.extra:
            self.extra = {**self.extra, "keep": self.keep}

    def keep_by(self, exp=None) -> tuple:
        """(metric, mode) by which keep=best ranks a trial's checkpoints: those of the experiment's space (its copy in
        `exp`, else space_file()); val_loss, min when there is no space to read."""
        from search_spaces.loader import load_space
        from trainables.errors import UserError

        try:
            path = exp / SPACE if exp is not None and (exp / SPACE).is_file() else self.space_file()
            space = load_space(path, searchable=False)
        except (UserError, NotImplementedError, OSError, TypeError):
            return "val_loss", "min"
        return space.metric, space.mode

    def checkpoint_parts(self, exp=None) -> dict:
        """TunerParts fields for --keep: with best, Ray keeps each trial's best checkpoint by the experiment's
        metric and mode besides its latest (the finetune trainable also writes its best epoch's model into its
        final checkpoint)."""
        if self.keep != "best":
            return {"keep_best_by": None}
        metric, mode = self.keep_by(exp)
        return {"keep_best_by": metric, "keep_best_order": mode}

    def check_resources(self):
        check_max_failures(self.max_failures)
        check_fail_fast(self.fail_fast)
        # written so that NaN fails too (NaN compares false with everything; Ray would wait for "nan CPUs" forever)
        if not (math.isfinite(self.cpus_per_trial) and self.cpus_per_trial > 0):
            raise SweepError(f"--cpus-per-trial {self.cpus_per_trial}: must be a number > 0")
        if not (math.isfinite(self.gpus_per_trial) and self.gpus_per_trial >= 0):
            raise SweepError(f"--gpus-per-trial {self.gpus_per_trial}: must be a number >= 0")

    def with_resources(self, trial_fn, **parameters):
        """The trial function with its fixed arguments and the resources every trial asks Ray for."""
        from ray import tune

        return tune.with_resources(tune.with_parameters(trial_fn, **parameters),
                                   {"cpu": self.cpus_per_trial, "gpu": self.gpus_per_trial})

    def callbacks(self, exp, to_config) -> list:
        from ..results import ResultsTable

        metric, mode = self.keep_by(exp)
        cbs = [ResultsTable(exp, to_config, self.gpus_per_trial, extra_columns={"source_trial_id": "source_trial_id"},
                            keep=self.keep, metric=metric, mode=mode)]
        if self.wandb:
            from ..wandb_runs import WandbRuns

            os.environ["WANDB_MODE"] = self.wandb  # offline needs it in the driver and in the callback
            cbs.append(WandbRuns(exp, project=f"babysweep-{self.name}", mode=self.wandb))
        return cbs


def as_launched(config: dict, constant_schedule: str) -> dict:
    """`config` with `lr_scheduler_type: constant` meaning what it meant when the experiment was launched
    (ExperimentSpec.constant_schedule)."""
    if config.get("lr_scheduler_type") == "constant" and constant_schedule != "constant":
        return {**config, "lr_scheduler_type": constant_schedule}
    return config
