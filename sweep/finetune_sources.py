"""Where a finetune-all run's hyperparameters come from, per task: the paper's Table 4 (trainables.glue.TABLE4),
a file (--hparams), or the best configuration of that task's own sweep (the paper's protocol: a BOHB sweep per
task, whose winners are its Table 4).

    --from-sweeps DIR     every fine-tuning sweep in the storage folder DIR, matched to a task by its `task`
    --sweep TASK=FOLDER   one sweep folder for one task (repeatable; wins over --from-sweeps for that task)

A sweep's best configuration is its best complete trial by the space's own metric and mode (sweep/selection.py),
as the trainable received it (results.csv's config/<name> columns), with the epochs it trained: its num_epochs,
capped at the sweep's budget maximum. The sweep's checkpoint, GLUE folder and task are never taken: the run
fine-tunes its own checkpoint. A sweep made on another checkpoint is refused unless `transfer` (--transfer) says
that is meant: the paper transferred run 1's configurations to run 2 and to the teachers (its Table 5).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from trainables.errors import ConfigError

from .selection import RANKED

# what a sweep's trial knows that is not a hyperparameter of the run finetune-all makes
NOT_TAKEN = ("checkpoint", "glue_dir", "task", "keep", "output_dir", "save_model", "num_threads",
             "max_train_examples", "max_eval_examples")
TABLE4 = "Table 4"


@dataclass(frozen=True)
class SweepChoice:
    """The configuration one task's sweep found best."""
    task: str
    sweep: Path
    trial_id: str
    config: dict          # the fine-tuning arguments to use
    metric: str
    value: float          # the trial's final value of the metric
    checkpoint: str       # the checkpoint the sweep fine-tuned

    def describe(self) -> str:
        return f"sweep {self.sweep} trial {self.trial_id} ({self.metric} {self.value:.4g})"


def sweep_settings(exp) -> dict:
    """The trainable's settings of every trial of a sweep: its space's constants under its --set values."""
    return {**exp.space.constants, **(getattr(exp.spec, "extra", None) or {})}


def is_finetune_sweep(exp) -> bool:
    try:
        return exp.spec.finetunes and "task" in sweep_settings(exp)
    except Exception:  # an unreadable record or space: not a sweep to take a configuration from
        return False


def best_choice(exp, task: str | None = None) -> SweepChoice:
    """The best configuration of the fine-tuning sweep `exp` (of `task`, when given); ConfigError (one line
    naming the sweep) when it is no fine-tuning sweep, is of another task or has no complete trial yet."""
    where = f"sweep {exp.path}"
    if not is_finetune_sweep(exp):
        raise ConfigError(f"{where}: is not a fine-tuning sweep (its trainable is not finetune, or it has no task)")
    settings = sweep_settings(exp)
    if task is not None and settings["task"] != task:
        raise ConfigError(f"{where}: is a sweep of task {settings['task']}, not {task}")
    best = exp.best_trial()
    if best is None:
        raise ConfigError(f"{where}: has no complete trial yet ({exp.best_rule()}); let it finish or resume it")
    config = {k[len("config/"):]: v for k, v in best.items() if str(k).startswith("config/")}
    config = {k: plain(v) for k, v in {**settings, **config}.items()
              if k not in NOT_TAKEN and not _missing(v)}
    if "num_epochs" in config:
        config["num_epochs"] = plain(min(float(config["num_epochs"]), float(exp.space.budget_max)))
    return SweepChoice(settings["task"], exp.path, str(best["trial_id"]), config, exp.space.metric,
                       float(best[RANKED]), str(settings.get("checkpoint", "")))


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def plain(value):
    """A table cell as a plain Python value (finetune_all.json and a --hparams file hold them): numpy scalars as
    Python's, whole floats as integers (the table reads a batch size as 16.0 once a column has a gap)."""
    value = value.item() if hasattr(value, "item") else value
    return int(value) if isinstance(value, float) and value.is_integer() else value


def choices_from_sweeps(tasks, checkpoint, storage=None, per_task=None, transfer=False) -> dict:
    """{task: SweepChoice} for the tasks of `tasks` that a sweep covers: `per_task` ({task: sweep folder}) first,
    then the fine-tuning sweeps in `storage`. ConfigError (one line) for a folder that is no sweep, a sweep of
    another task, two sweeps of one task in `storage`, a sweep of another checkpoint (without `transfer`), or an
    asked-for task no sweep covers."""
    from .experiment import Experiment, list_experiments
    from . import folder

    out = {}
    for task, path in (per_task or {}).items():
        path = Path(path).expanduser()
        if not (path / "sweep.json").is_file():
            raise ConfigError(f"--sweep {task}={path}: not an experiment folder (no sweep.json)")
        out[task] = best_choice(Experiment(path, folder.read_record(path)), task)
    if storage is not None:
        root = Path(storage).expanduser()
        if not root.is_dir():
            raise ConfigError(f"--from-sweeps {root}: folder not found")
        found = {}
        for exp in list_experiments(root):
            if is_finetune_sweep(exp):
                found.setdefault(sweep_settings(exp)["task"], []).append(exp)
        for task in tasks:
            if task in out:
                continue
            sweeps = found.get(task, [])
            if len(sweeps) > 1:
                raise ConfigError(f"--from-sweeps {root}: {len(sweeps)} sweeps of task {task} "
                                  f"({', '.join(e.name for e in sweeps)}); choose one with --sweep {task}=FOLDER")
            if not sweeps:
                have = ", ".join(sorted(found)) or "none"
                raise ConfigError(f"--from-sweeps {root}: no fine-tuning sweep of task {task} (sweeps of: {have}); "
                                  f"leave it out of --tasks or sweep it first")
            out[task] = best_choice(sweeps[0], task)
    for task, choice in out.items():
        if not transfer and choice.checkpoint and \
                Path(choice.checkpoint).expanduser().resolve() != Path(checkpoint).expanduser().resolve():
            raise ConfigError(f"{choice.sweep}: swept task {task} on another checkpoint ({choice.checkpoint}); add "
                              f"--transfer to fine-tune {checkpoint} with its configuration (as the paper did for "
                              f"its second run and the teachers)")
    return out
