"""The teacher-pretraining trainable: a Llama model trained from scratch on a prepared folder.

`pretrain(config)` is a plain function of one config dict. It reports the validation loss at every
budget step (one epoch by default) together with a checkpoint holding everything needed to continue
exactly where it stopped (model, optimizer, scheduler, RNG state, data position), because BOHB pauses
and resumes trials all the time. At the end it reports the test loss and saves the model in Hugging Face
format. It knows nothing about the searcher; `trainables.reporting` sends its reports to Ray Tune or,
outside a sweep, to a local callback.
"""
import json
import math
from contextlib import nullcontext
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import reporting
from .data.prepared import eval_block_starts, gather_blocks, open_prepared, train_block_starts
from .errors import ConfigError
from .model import MODEL_FIELDS, build_model, count_parameters, flops_per_token, model_config, peak_flops

# The searched hyperparameters, under the names the search spaces use. Defaults: the BabyLlama-2 teachers
# (paper Table 2: lr 7e-4, 8 epochs, batch 128, weight decay 5, cosine, 600 warm-up steps), AdamW's usual betas.
HYPERPARAMETERS = dict(
    lr=7e-4, lr_scheduler_type="cosine", num_warmup_steps=600, one_minus_adam_beta1=0.1,
    one_minus_adam_beta2=1e-3, adam_epsilon=1e-8, weight_decay=5.0, max_grad_norm=1.0, batch_size=128,
    num_epochs=8, attention_dropout=0.0, seed=0,
)
# How to run, not what to learn
SETTINGS = dict(
    data=None,                  # the prepared folder (babysweep data prepare)
    preset="smollm-345m",
    seq_length=None,            # default: the prepared folder's
    max_device_batch_size=64,   # above it, gradient accumulation keeps the logical batch size exact
    budget_step=1.0,            # epochs between reports (fractions allowed)
    eval_batch_size=32,
    compile=False,              # torch.compile on GPU
    num_threads=None,           # CPU threads; default: the CPUs Ray gave the trial, else all
    peak_flops=None,            # for mfu on an accelerator not in trainables.model.PEAK_BF16_FLOPS
    output_dir=None,            # where the final Hugging Face model goes outside a sweep
)
ACCEPTED = set(HYPERPARAMETERS) | set(SETTINGS) | MODEL_FIELDS
SCHEDULES = {"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup"}


def resolve_config(config: dict) -> dict:
    unknown = sorted(set(config) - ACCEPTED)
    if unknown:
        raise ConfigError(f"{unknown[0]}: not a parameter of the pretrain trainable")
    cfg = {**HYPERPARAMETERS, **SETTINGS, **config}
    if not cfg["data"]:
        raise ConfigError("data: the prepared data folder is required")
    if cfg["lr_scheduler_type"] not in SCHEDULES:
        raise ConfigError(f"lr_scheduler_type: {cfg['lr_scheduler_type']!r} is not one of {', '.join(SCHEDULES)}")
    for name in ("batch_size", "max_device_batch_size", "eval_batch_size"):
        if int(cfg[name]) < 1:
            raise ConfigError(f"{name}: must be at least 1, got {cfg[name]}")
    for name in ("num_epochs", "budget_step", "lr"):
        if not cfg[name] > 0:
            raise ConfigError(f"{name}: must be > 0, got {cfg[name]}")
    for name in ("one_minus_adam_beta1", "one_minus_adam_beta2"):
        if not 0 < cfg[name] <= 1:
            raise ConfigError(f"{name}: must be in (0, 1], got {cfg[name]}")
    return cfg


def budget_points(num_epochs: float, budget_step: float, steps_per_epoch: int) -> dict:
    """{optimizer step: budget in epochs} for every report. The budget is reported as its nominal value
    (1, 2, ... or k * budget_step), not as step / steps_per_epoch, so that a scheduler's milestone of
    1 epoch is reached exactly even when an epoch's step count is rounded."""
    points, k = {}, 1
    while k * budget_step < num_epochs - 1e-9:
        points[max(1, round(k * budget_step * steps_per_epoch))] = round(k * budget_step, 9)
        k += 1
    points[max(1, round(num_epochs * steps_per_epoch))] = num_epochs
    return points


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


def trial_cpus() -> int | None:
    if reporting.in_tune():
        import ray

        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
        return max(1, int(cpus)) if cpus else None
    return None


def make_optimizer(model, cfg):
    # As the Hugging Face Trainer the paper used: no weight decay on norm weights (nor on biases; Llama has none)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg["lr"], betas=(1 - cfg["one_minus_adam_beta1"], 1 - cfg["one_minus_adam_beta2"]),
        eps=cfg["adam_epsilon"], fused=next(model.parameters()).is_cuda)


@torch.no_grad()
def mean_loss(model, tokens, seq_length, batch_size, device, autocast) -> float:
    """Mean next-token cross-entropy (nats per predicted token) over contiguous blocks of `tokens`."""
    was_training = model.training
    model.eval()
    starts = eval_block_starts(len(tokens), seq_length)
    total, count = 0.0, 0
    for i in range(0, len(starts), batch_size):
        x = torch.from_numpy(gather_blocks(tokens, starts[i:i + batch_size], seq_length)).to(device)
        with autocast():
            logits = model(input_ids=x).logits[:, :-1]
        total += F.cross_entropy(logits.float().flatten(0, 1), x[:, 1:].flatten(), reduction="sum").item()
        count += x[:, 1:].numel()
    model.train(was_training)
    return total / max(count, 1)


def optimizer_step(model, optimizer, scheduler, max_grad_norm, device):
    """Clip (when max_grad_norm > 0), step the optimizer and the schedule; on GPU wait for the step to end,
    so the step's wall time is its real time."""
    if max_grad_norm and max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    scheduler.step()
    if device.type == "cuda":
        torch.cuda.synchronize()


def save_checkpoint(folder: Path, model, optimizer, scheduler, state):
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "state": state,
                "rng": {"torch": torch.get_rng_state(),
                        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}},
               folder / "trainer_state.pt")


def load_checkpoint(folder: Path, model, optimizer, scheduler) -> dict:
    saved = torch.load(folder / "trainer_state.pt", map_location="cpu", weights_only=False)
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    torch.set_rng_state(saved["rng"]["torch"])
    if saved["rng"]["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(saved["rng"]["cuda"])
    return saved["state"]


def save_hf_model(folder: Path, model, data, cfg, metrics):
    """The finished model as any transformers tool reads it, with its tokenizer and how it was made."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model.save_pretrained(folder)
    data.tokenizer().save_pretrained(folder)
    record = {"tokenizer_sha256": data.tokenizer_sha256, "data": str(Path(data.folder).resolve()),
              "data_key": data.meta["key"], "config": cfg, "metrics": metrics}
    (folder / "babysweep.json").write_text(json.dumps(record, indent=2, default=str) + "\n")


def pretrain(config: dict) -> None:
    from transformers import get_scheduler

    cfg = resolve_config(config)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(cfg["num_threads"] or trial_cpus() or torch.get_num_threads())
        keep_freed_memory()
    # bf16 autocast on GPU; on CPU plain fp32 keeps a paused and resumed run bit-exact
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" else nullcontext

    data = open_prepared(cfg["data"])
    L = int(cfg["seq_length"] or data.meta["seq_length"])
    train_tokens, valid_tokens = data.tokens("train"), data.tokens("validation")
    overrides = {k: cfg[k] for k in MODEL_FIELDS if k in config}
    mconf = model_config(cfg["preset"], overrides, data.vocab_size, L, float(cfg["attention_dropout"]))

    torch.manual_seed(int(cfg["seed"]))
    model = build_model(mconf).to(device)
    model.train()
    batch_size = int(cfg["batch_size"])
    # The fewest whole blocks any epoch has (its random phase can cost one), so every epoch has as many steps
    n_blocks = (len(train_tokens) - L) // L
    steps_per_epoch = n_blocks // batch_size
    if steps_per_epoch < 1:
        raise ConfigError(f"batch_size: {batch_size} exceeds the {n_blocks} blocks of {L} tokens in the train split")
    report_at = budget_points(float(cfg["num_epochs"]), float(cfg["budget_step"]), steps_per_epoch)
    total_steps = max(report_at)
    micro = min(batch_size, int(cfg["max_device_batch_size"]))
    n_micro = math.ceil(batch_size / micro)

    optimizer = make_optimizer(model, cfg)
    scheduler = get_scheduler(SCHEDULES[cfg["lr_scheduler_type"]], optimizer,
                              num_warmup_steps=int(cfg["num_warmup_steps"]), num_training_steps=total_steps)
    state = {"step": 0, "wall_s": 0.0}
    with reporting.restored_checkpoint() as folder:
        if folder is not None:
            state = load_checkpoint(folder, model, optimizer, scheduler)
    train_model = torch.compile(model) if cfg["compile"] and device.type == "cuda" else model

    flops = flops_per_token(mconf, L)
    peak = cfg["peak_flops"] or peak_flops(device)
    epoch_starts, epoch_of_starts = None, None
    seg_tokens, seg_time, seg_loss, seg_steps = 0, 0.0, 0.0, 0
    while state["step"] < total_steps:
        t0 = time.perf_counter()
        epoch, i = divmod(state["step"], steps_per_epoch)
        if epoch != epoch_of_starts:
            epoch_starts, epoch_of_starts = train_block_starts(len(train_tokens), L, epoch, int(cfg["seed"])), epoch
        batch = epoch_starts[i * batch_size:(i + 1) * batch_size]
        optimizer.zero_grad(set_to_none=True)
        step_loss = 0.0
        for chunk in np.array_split(batch, n_micro):
            x = torch.from_numpy(gather_blocks(train_tokens, chunk, L)).to(device, non_blocking=True)
            with autocast():
                loss = train_model(input_ids=x, labels=x).loss * (len(chunk) / batch_size)
            loss.backward()
            step_loss += loss.item()
        if not math.isfinite(step_loss):
            reporting.report({"val_loss": math.inf, "epoch": state["step"] / steps_per_epoch, "diverged": True,
                              "step": state["step"], "train_loss": step_loss})
            return
        optimizer_step(model, optimizer, scheduler, cfg["max_grad_norm"], device)
        state["step"] += 1
        dt = time.perf_counter() - t0
        state["wall_s"] += dt
        seg_time += dt
        seg_tokens += batch_size * L
        seg_loss += step_loss
        seg_steps += 1
        reporting.progress(state["step"], total_steps)

        if state["step"] not in report_at:
            continue
        t_eval = time.perf_counter()
        val_loss = mean_loss(model, valid_tokens, L, int(cfg["eval_batch_size"]), device, autocast)
        tokens_per_s = seg_tokens / seg_time
        metrics = {
            "val_loss": val_loss if math.isfinite(val_loss) else math.inf,
            "epoch": report_at[state["step"]],
            "step": state["step"],
            "train_loss": seg_loss / seg_steps,
            "lr": scheduler.get_last_lr()[0],
            "tokens_per_s": tokens_per_s,
            "mfu": flops * tokens_per_s / peak if peak else None,
            "diverged": not math.isfinite(val_loss),
            "n_params": count_parameters(model),
        }
        final = state["step"] == total_steps or metrics["diverged"]
        if final and not metrics["diverged"] and "test" in data.splits:
            metrics["test_loss"] = mean_loss(model, data.tokens("test"), L, int(cfg["eval_batch_size"]), device,
                                             autocast)
        state["wall_s"] += time.perf_counter() - t_eval
        metrics["wall_s"] = state["wall_s"]
        metrics["gpu_s"] = state["wall_s"] if device.type == "cuda" else 0.0
        with reporting.scratch_dir() as folder:
            save_checkpoint(folder, model, optimizer, scheduler, state)
            if final and not metrics["diverged"]:
                save_hf_model(folder / "hf", model, data, cfg, metrics)
                if cfg["output_dir"]:
                    save_hf_model(Path(cfg["output_dir"]), model, data, cfg, metrics)
            reporting.report(metrics, folder)
        seg_tokens, seg_time, seg_loss, seg_steps = 0, 0.0, 0.0, 0
        if metrics["diverged"]:
            return
