"""The budget loop the synthetic trainables share: config checks, the budget points, and a report with a tiny
checkpoint at each point, so that BOHB can pause a trial at any rung and resume it exactly.

A synthetic trial has no state to carry but how far it got: its checkpoint is one JSON file naming the trainable
and the last epoch reported. Resuming skips every budget point up to that epoch; since each value is a pure
function of (config, epoch), a paused and resumed run reports the very same sequence as one never paused.
"""
import json
import math
from pathlib import Path
from typing import Callable

from ..errors import ConfigError
from ..files import scratch_folder, write_json
from ..reporting import Reporter, budget_epochs, default_reporter

CHECKPOINT_FILE = "synthetic_checkpoint.json"
BUDGET_DEFAULTS = dict(num_epochs=27, budget_step=1, seed=0)  # 27 = 3**3: rungs 1, 3, 9, 27 with eta = 3
BUDGET_NAMES = set(BUDGET_DEFAULTS)


def resolve_config(config: dict, defaults: dict, accepted: set, trainable: str) -> dict:
    """`config` over `defaults`, refusing names the trainable does not take and budgets that are not positive."""
    unknown = sorted(set(config) - accepted)
    if unknown:
        raise ConfigError(f"{unknown[0]}: not a parameter of the {trainable} trainable")
    cfg = {**BUDGET_DEFAULTS, **defaults, **config}
    for name in ("num_epochs", "budget_step"):
        value = cfg[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 and math.isfinite(value)):
            raise ConfigError(f"{name}: must be a number > 0, got {value!r}")
    return cfg


def unit_interval(cfg: dict, name: str) -> float:
    """The config value `name` as a float in [0, 1] (the domain of every input of these functions)."""
    value = cfg[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(f"{name}: must be a number in [0, 1], got {value!r}")
    return float(value)


def as_epoch(value: float) -> int | float:
    """A budget as reported: an int when whole (1, 2, ...), so tables show epochs as the pretraining trainable does."""
    value = round(float(value), 9)
    return int(value) if value.is_integer() else value


def budget_points(num_epochs: float, budget_step: float) -> list:
    """The epochs reported at (trainables.reporting.budget_epochs), whole ones as ints."""
    return [as_epoch(epoch) for epoch in budget_epochs(num_epochs, budget_step)]


def restored_epoch(reporter: Reporter, trainable: str) -> float | None:
    """The last epoch reported before a pause, from the reporter's checkpoint; None on a fresh start."""
    with reporter.restored_checkpoint() as folder:
        if folder is None:
            return None
        path = Path(folder) / CHECKPOINT_FILE
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            epoch = float(saved["epoch"])
        except (OSError, ValueError, TypeError, KeyError) as e:
            raise ConfigError(f"checkpoint {path}: unreadable ({e!r})") from None
    if saved.get("trainable") != trainable:  # resuming a trial from another trainable's checkpoint is a mix-up
        raise ConfigError(f"checkpoint {path}: written by {saved.get('trainable')!r}, not {trainable!r}")
    return epoch


def run_budget(cfg: dict, reporter: Reporter | None, value_at: Callable[[int | float], float], trainable: str):
    """Report {"epoch": e, "val_loss": value_at(e)} at every budget point after the restored one, each with its
    checkpoint. `value_at` is the synthetic function of this config at epoch e."""
    reporter = default_reporter() if reporter is None else reporter
    last = restored_epoch(reporter, trainable)
    for epoch in budget_points(float(cfg["num_epochs"]), float(cfg["budget_step"])):
        if last is not None and epoch <= last + 1e-9:
            continue
        metrics = {"epoch": epoch, "val_loss": float(value_at(epoch))}
        with scratch_folder() as folder:
            write_json(folder / CHECKPOINT_FILE, {"trainable": trainable, "epoch": epoch})
            reporter.report(metrics, folder)
