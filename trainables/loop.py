"""The parts of a training loop that every trainable shares: config checks, device, AdamW and its schedule, budget
points, the batches of each epoch, gradient accumulation, the optimizer step, exact checkpoints, and the report at a
budget point (checkpoint, final Hugging Face model, stop on divergence).

A trainable (trainables.pretrain, trainables.finetune) keeps its own data, loss, evaluation and loop, and calls
these. Every checkpoint holds all a run needs to continue exactly where it stopped (model, optimizer, scheduler,
RNG states, position in the data), because BOHB pauses and resumes trials all the time. A trainable may add state of
its own (`extra_state`: fine-tuning's best epoch so far and its weights), which `restore` hands back. What a
checkpoint folder holds is written down in trainables.checkpoints: trainer_state.pt of plain values only (tensors,
numbers, strings: read with torch.load(weights_only=True), so a checkpoint from elsewhere never runs code when it is
resumed or scored) and, written last, the manifest checkpoint.json, by which a checkpoint copied in part into
storage is told from a whole one.

Schedules (`lr_scheduler_type`), as Hugging Face's `get_scheduler` names them:
    linear                 warm-up over num_warmup_steps, then linear decay to 0 at the last step
    cosine                 warm-up, then cosine decay to 0
    constant               the constant learning rate from the first step: NO warm-up (num_warmup_steps is ignored;
                           the authors' SST-2 setting, "constant" with 200 warm-up steps, is this)
    constant_with_warmup   warm-up, then constant
Earlier babysweep versions mapped `constant` to constant_with_warmup; configs that say `constant` (the tiny_demo
space's choice) now train without warm-up. An experiment launched before keeps the meaning it was launched with,
for the trials it resumes and for re-runs of its trials (sweep.kinds.base.ExperimentSpec.constant_schedule).
"""
import math
import numbers
import sys
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch

from .checkpoints import (TRAINER_STATE, first_line, manifest_problem, missing_manifest, read_trainer_state,
                          save_trainer_state, write_manifest)
from .errors import CheckpointError, ConfigError
from .files import scratch_folder, write_json
from .reporting import budget_epochs

# lr_scheduler_type: our name -> transformers.get_scheduler's (see the module docstring)
SCHEDULES = {"linear": "linear", "cosine": "cosine", "constant": "constant",
             "constant_with_warmup": "constant_with_warmup"}


# the optimizer and loop values every trainable takes, all numbers
NUMBERS = ("lr", "num_epochs", "batch_size", "max_device_batch_size", "eval_batch_size", "weight_decay",
           "num_warmup_steps", "one_minus_adam_beta1", "one_minus_adam_beta2", "adam_epsilon", "max_grad_norm")


def resolve_config(config: dict, defaults: dict, accepted: set, trainable: str) -> dict:
    """`config` over `defaults`, after the checks every trainable needs: no unknown name, a known schedule, and
    optimizer values and batch sizes in range."""
    unknown = sorted(set(config) - accepted)
    if unknown:
        raise ConfigError(f"{unknown[0]}: not a parameter of the {trainable} trainable")
    cfg = {**defaults, **config}
    for name in NUMBERS:  # before any comparison: "abc" > 0 is a TypeError, nan > 0 is False for the wrong reason
        value = cfg.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)
                                  or not math.isfinite(value)):
            raise ConfigError(f"{name}: must be a finite number, got {value!r}")
    if cfg["lr_scheduler_type"] not in SCHEDULES:
        raise ConfigError(f"lr_scheduler_type: {cfg['lr_scheduler_type']!r} is not one of {', '.join(SCHEDULES)}")
    for name in ("batch_size", "max_device_batch_size", "eval_batch_size"):
        if int(cfg[name]) < 1:
            raise ConfigError(f"{name}: must be at least 1, got {cfg[name]}")
    for name in ("num_epochs", "lr"):
        if not cfg[name] > 0:
            raise ConfigError(f"{name}: must be > 0, got {cfg[name]}")
    for name in ("one_minus_adam_beta1", "one_minus_adam_beta2"):
        if not 0 < cfg[name] <= 1:
            raise ConfigError(f"{name}: must be in (0, 1], got {cfg[name]}")
    for name in ("weight_decay", "num_warmup_steps"):
        if cfg[name] < 0:
            raise ConfigError(f"{name}: must be >= 0, got {cfg[name]}")
    return cfg


def setup_device(num_threads: int | None):
    """(device, autocast): the GPU when there is one, under bf16 autocast; else the CPU with `num_threads` threads
    (None: all) in plain fp32, which keeps a paused and resumed run bit-exact."""
    if torch.cuda.is_available():
        return torch.device("cuda"), lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    torch.set_num_threads(num_threads or torch.get_num_threads())
    keep_freed_memory()
    return torch.device("cpu"), nullcontext


def keep_freed_memory():
    """Linux/glibc: keep a step's big temporaries (logits and their gradient) in the heap instead of handing
    them back to the kernel and faulting them in again every step: ~10k page faults a step on the tiny preset,
    about 10% of its CPU throughput (benchmarks/bench_trainable.py)."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return
    libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: blocks up to 32 MiB (glibc's maximum) come from the heap
    libc.mallopt(-1, 1 << 30)   # M_TRIM_THRESHOLD: give the heap top back only when 1 GiB of it is free


def make_optimizer(model, cfg):
    # As the Hugging Face Trainer the paper used: no weight decay on norm weights (nor on biases; Llama has none)
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg["lr"], betas=(1 - cfg["one_minus_adam_beta1"], 1 - cfg["one_minus_adam_beta2"]),
        eps=cfg["adam_epsilon"], fused=next(model.parameters()).is_cuda)


def make_scheduler(optimizer, cfg, total_steps: int):
    from transformers import get_scheduler

    return get_scheduler(SCHEDULES[cfg["lr_scheduler_type"]], optimizer,
                         num_warmup_steps=int(cfg["num_warmup_steps"]), num_training_steps=total_steps)


def budget_points(num_epochs: float, budget_step: float, steps_per_epoch: int) -> dict:
    """{optimizer step: budget in epochs} for every report. The budget is reported as its nominal value
    (1, 2, ... or k * budget_step), not as step / steps_per_epoch, so that a scheduler's milestone of
    1 epoch is reached exactly even when an epoch's step count is rounded."""
    *before, _ = budget_epochs(num_epochs, budget_step)
    points = {max(1, round(epoch * steps_per_epoch)): round(epoch, 9) for epoch in before}
    points[max(1, round(num_epochs * steps_per_epoch))] = num_epochs
    return points


class Progress:
    """Where a run stands, saved in its checkpoints (optimizer steps done, wall seconds spent), its budget points,
    and what the steps since the last report did, for that report's train_loss and throughput."""

    def __init__(self, report_at: dict, saved: dict | None = None):
        self.report_at = report_at  # {optimizer step: budget in epochs}
        self.total_steps = max(report_at)
        saved = saved or {"step": 0, "wall_s": 0.0}
        self.step, self.wall_s = saved["step"], saved["wall_s"]
        self.warning = saved.get("warning")  # from restore: said once, in the next report
        self.start_segment()

    def start_segment(self):
        self.seg_steps, self.seg_seconds, self.seg_items, self.seg_loss = 0, 0.0, 0, 0.0

    def step_done(self, seconds: float, items: int, loss: float):
        """One optimizer step over `items` (tokens, examples) took `seconds`; its batch's mean loss was `loss`."""
        self.step += 1
        self.wall_s += seconds
        self.seg_steps += 1
        self.seg_seconds += seconds
        self.seg_items += items
        self.seg_loss += loss

    @property
    def at_budget_point(self) -> bool:
        return self.step in self.report_at

    @property
    def at_last_point(self) -> bool:
        return self.step == self.total_steps

    @property
    def items_per_s(self) -> float:
        return self.seg_items / self.seg_seconds

    def metrics(self, val_loss: float, scheduler) -> dict:
        """What every report holds; diverged: a non-finite validation or training loss."""
        train_loss = self.seg_loss / self.seg_steps
        metrics = {"epoch": self.report_at[self.step], "step": self.step,
                   "val_loss": val_loss if math.isfinite(val_loss) else math.inf, "train_loss": train_loss,
                   "lr": scheduler.get_last_lr()[0],
                   "diverged": not (math.isfinite(val_loss) and math.isfinite(train_loss))}
        if self.warning:
            metrics["warning"], self.warning = self.warning, None
        return metrics

    def state(self) -> dict:
        return {"step": self.step, "wall_s": self.wall_s}


def batches(progress: Progress, batch_size: int, steps_per_epoch: int, order_of_epoch):
    """The batches from the run's position to its end: step i of epoch e takes the i-th slice of batch_size of
    order_of_epoch(e). That order is a function of the epoch alone, so a resumed run sees the very same batches.
    The caller advances progress.step after each batch."""
    order, order_epoch = None, None
    while progress.step < progress.total_steps:
        epoch, i = divmod(progress.step, steps_per_epoch)
        if epoch != order_epoch:
            order, order_epoch = order_of_epoch(epoch), epoch
        yield order[i * batch_size:(i + 1) * batch_size]


def accumulate_gradients(chunks, loss_of) -> float:
    """Backward over one batch given in chunks that fit the device: each chunk's mean loss, weighted by its share
    of the batch, so the gradients add up to those of the batch's mean loss. Returns that loss."""
    batch_len = sum(len(chunk) for chunk in chunks)
    batch_loss = 0.0
    for chunk in chunks:
        loss = loss_of(chunk) * (len(chunk) / batch_len)
        loss.backward()
        batch_loss += loss.item()
    return batch_loss


def optimizer_step(model, optimizer, scheduler, max_grad_norm, device):
    """Clip (when max_grad_norm > 0), step the optimizer and the schedule, clear the gradients for the next batch;
    on GPU wait for the step to end, so the step's wall time is its real time."""
    if max_grad_norm and max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()


def save_checkpoint(folder: Path, model, optimizer, scheduler, state: dict, extra_state=None):
    """folder/trainer_state.pt: all a run needs to go on exactly (trainables.checkpoints: plain values only, written
    under a temporary name and renamed)."""
    saved = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "state": state,
             "rng": {"torch": torch.get_rng_state(),
                     "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}}
    if extra_state is not None:
        saved["extra"] = extra_state
    save_trainer_state(folder, saved)


def load_checkpoint(folder: Path, model, optimizer, scheduler) -> dict:
    """Restore model, optimizer, scheduler and RNG states; returns the saved position (Progress.state), with the
    trainable's own state under "extra" (None when it saved none). CheckpointError (one line) when the folder's
    trainer_state.pt cannot be read, would need unpickling code, or its manifest says the folder is not whole."""
    saved = read_checkpoint(Path(folder))
    return apply_checkpoint(saved, model, optimizer, scheduler)


def read_checkpoint(folder: Path) -> dict:
    """The training state of the checkpoint `folder`, once the folder is whole by its manifest (a checkpoint written
    before manifests has none, and is read as it is)."""
    problem = manifest_problem(folder)
    if problem is None:
        saved = read_trainer_state(folder / TRAINER_STATE)
        problem = missing_manifest(folder, saved)
    if problem is not None:
        raise CheckpointError(problem)
    return saved


def apply_checkpoint(saved: dict, model, optimizer, scheduler) -> dict:
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    torch.set_rng_state(saved["rng"]["torch"])
    if saved["rng"]["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(saved["rng"]["cuda"])
    return {**saved["state"], "extra": saved.get("extra")}


# What loading a readable training state into the run's model, optimizer and schedule raises when it is not theirs
APPLY_FAILED = (RuntimeError, KeyError, ValueError, TypeError, IndexError)


def restore(reporter, model, optimizer, scheduler) -> dict | None:
    """Load the reporter's checkpoint to resume from, if any; returns its saved position (with the trainable's
    extra_state under "extra"), None on a fresh start.

    A checkpoint that cannot be read (cut short by a kill while it was written, copied in part into storage by a
    full disk: its manifest says so, or refused because its pickle would run code) is skipped for the previous one
    kept beside it (checkpoint_NNNNNN folders, newest first), with a warning naming why: printed, and under
    "warning" in the saved position, which Progress puts into the run's next report. The run then trains again from
    there, and reports some epochs a second time (readers keep the last report of an epoch: sweep/table.py)."""
    with reporter.restored_checkpoint() as folder:
        if folder is None:
            return None
        problems = []
        for candidate in [Path(folder), *earlier_checkpoints(Path(folder))]:
            try:
                saved = apply_checkpoint(read_checkpoint(candidate), model, optimizer, scheduler)
            except CheckpointError as e:
                problems.append(f"{candidate.name}: {e}")
                continue
            except APPLY_FAILED as e:  # state of another model or optimizer; the next candidate's replaces it all
                problems.append(f"{candidate.name}: {candidate / TRAINER_STATE}: does not fit this run "
                                f"({type(e).__name__}: {first_line(e)})")
                continue
            if problems:
                saved["warning"] = (f"checkpoint {Path(folder).name} is damaged ({'; '.join(problems)}); resumed from "
                                    f"the previous checkpoint {candidate.name}, at step {saved['step']}")
                print(f"warning: {saved['warning']}", file=sys.stderr, flush=True)
            return saved
        raise CheckpointError(f"{folder}: no readable checkpoint to resume from ({'; '.join(problems)})")


def earlier_checkpoints(folder: Path) -> list[Path]:
    """The checkpoints kept beside `folder` that come before it (Ray's and LocalRun's checkpoint_NNNNNN), newest
    first."""
    if not folder.name.startswith("checkpoint_"):
        return []
    return sorted((p for p in folder.parent.glob("checkpoint_*") if p.is_dir() and p.name < folder.name),
                  reverse=True)


@contextmanager
def holding_weights(model, state):
    """`model` holding the weights `state` (a state_dict; None: its own) inside the block, its own put back after
    it exactly (copied in place: the optimizer's references to the parameters stay valid)."""
    if state is None:
        yield model
        return
    own = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}  # on the CPU: no GPU memory
    model.load_state_dict(state)
    try:
        yield model
    finally:
        model.load_state_dict(own)


def save_hf_model(folder: Path, model, tokenizer, about: dict):
    """The model as any transformers tool reads it, with its tokenizer and how it was made (babysweep.json)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    write_json(Path(folder) / "babysweep.json", about, default=str)


def report_budget_point(reporter, metrics: dict, progress: Progress, model, optimizer, scheduler, *, tokenizer,
                        about: dict, model_in_checkpoint=True, scorable=False, output_dir=None, extra_state=None,
                        kept=None, kept_in_every_checkpoint=False) -> bool:
    """Report `metrics` with a checkpoint. At the last point of a run that has not diverged, the model in Hugging
    Face format goes into the checkpoint (hf/, when model_in_checkpoint) and into output_dir (when given), with
    `about` and the metrics in its babysweep.json. With `scorable`, every checkpoint also holds the model's
    config.json, the tokenizer and babysweep.json, so the model of any report can be scored where the trial
    stopped (model.load_trained_model reads it, the weights coming from trainer_state.pt). `extra_state`: the
    trainable's own state (plain values: trainables.checkpoints.plain_state), saved in the checkpoint and handed
    back by `restore`. The manifest (checkpoint.json) goes in last, once every other file is there. `kept`:
    (state_dict, metrics) of the model to publish at the last point instead of the current one (fine-tuning's best
    epoch), with those metrics in its babysweep.json; the checkpoint keeps the current weights, and `model` is left
    holding the kept ones (the run ends there). With `kept_in_every_checkpoint` (and model_in_checkpoint), every
    other checkpoint (before the last point, or a diverged one) holds hf/ too: the model kept so far (`kept`'s, or
    the current one when not diverged), so that a trial HyperBand stops at a rung, which never reaches its last
    point, has a model; the current weights are put back after it is written. Returns True when the run stops here: its last point, or
    diverged (no point training on from NaN weights)."""
    metrics["wall_s"] = progress.wall_s
    metrics["gpu_s"] = progress.wall_s if next(model.parameters()).is_cuda else 0.0
    about = dict(about, metrics=metrics)
    with scratch_folder() as folder:
        save_checkpoint(folder, model, optimizer, scheduler, progress.state(), extra_state)
        if scorable:
            model.config.to_json_file(folder / "config.json")
            tokenizer.save_pretrained(folder)
            write_json(folder / "babysweep.json", about, default=str)
        if progress.at_last_point and not metrics["diverged"]:
            if kept is not None:
                kept_state, kept_metrics = kept
                if kept_state is not None:
                    model.load_state_dict(kept_state)
                about = dict(about, metrics=kept_metrics)
            if model_in_checkpoint:
                save_hf_model(folder / "hf", model, tokenizer, about)
            if output_dir:
                save_hf_model(Path(output_dir), model, tokenizer, about)
        elif kept_in_every_checkpoint and model_in_checkpoint:
            state, shown = kept if kept is not None else (None, None if metrics["diverged"] else metrics)
            if shown is not None:  # None: nothing kept yet (the first report diverged)
                with holding_weights(model, state):
                    save_hf_model(folder / "hf", model, tokenizer, dict(about, metrics=shown))
        write_manifest(folder)  # last: a copy of the folder without it, or with a file short, is not whole
        reporter.report(metrics, folder)
    progress.start_segment()
    return progress.at_last_point or metrics["diverged"]

