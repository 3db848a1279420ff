"""The fine-tuning trainable: a pretrained Llama checkpoint fine-tuned on one (Super)GLUE task.

`finetune(config)` is a plain function of one config dict, like `trainables.pretrain.pretrain`. It loads a Hugging
Face folder written by the pretraining trainable (model + tokenizer, e.g. `<checkpoint>/hf`), builds
LlamaForSequenceClassification from it (a new classification head, num_labels from the task, the tokenizer's pad
token set in the config), fine-tunes it on `task` from `glue_dir` (trainables.glue), and reports at the end of
every epoch:

    epoch, step, score (the task's metric, under a fixed name for searchers), metric (its name: accuracy, f1, mcc),
    <metric> (the same value under its own name), val_loss (validation cross-entropy, nats per example),
    train_loss (mean over the epoch's steps), lr, examples_per_s, wall_s, gpu_s, n_train, n_valid

each with a checkpoint holding model, optimizer, scheduler, RNG and position, from which a paused run resumes
exactly (bit-exact on CPU). The last checkpoint also holds the fine-tuned model in Hugging Face format (`hf/`).
Defaults follow the paper: seed 12, AdamW with the Hugging Face Trainer's settings, no early stopping; the
per-task values of Table 4 are in trainables.glue.TABLE4.
"""
import json
import math
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import glue, reporting
from .errors import ConfigError
from .pretrain import SCHEDULES, budget_points, load_checkpoint, optimizer_step, save_checkpoint, trial_cpus

HYPERPARAMETERS = dict(
    lr=1e-5, batch_size=32, num_epochs=2, weight_decay=1.0, lr_scheduler_type="linear", num_warmup_steps=500,
    seed=glue.SEED, max_grad_norm=1.0, one_minus_adam_beta1=0.1, one_minus_adam_beta2=1e-3, adam_epsilon=1e-8,
)
SETTINGS = dict(
    checkpoint=None,            # Hugging Face folder of a pretrained model (model + tokenizer)
    glue_dir=None,              # folder of <task>.{train,valid}.jsonl
    task=None,                  # a name of trainables.glue.TASKS
    max_length=128,             # tokens per example, special tokens included
    max_train_examples=None,    # the first N train examples only (quick runs, tests)
    max_eval_examples=None,     # the first N validation examples only
    max_device_batch_size=32,   # above it, gradient accumulation keeps the logical batch size exact
    eval_batch_size=64,
    num_threads=None,           # CPU threads; default: the CPUs Ray gave the trial, else all
    save_model=True,            # the fine-tuned model in Hugging Face format in the last checkpoint (hf/)
    output_dir=None,            # and also here, outside a sweep
)
ACCEPTED = set(HYPERPARAMETERS) | set(SETTINGS)


def resolve_config(config: dict) -> dict:
    unknown = sorted(set(config) - ACCEPTED)
    if unknown:
        raise ConfigError(f"{unknown[0]}: not a parameter of the finetune trainable")
    cfg = {**HYPERPARAMETERS, **SETTINGS, **config}
    for name in ("checkpoint", "glue_dir", "task"):
        if not cfg[name]:
            raise ConfigError(f"{name}: required by the finetune trainable")
    glue.get_task(cfg["task"])
    if cfg["lr_scheduler_type"] not in SCHEDULES:
        raise ConfigError(f"lr_scheduler_type: {cfg['lr_scheduler_type']!r} is not one of {', '.join(SCHEDULES)}")
    for name in ("batch_size", "max_device_batch_size", "eval_batch_size", "max_length"):
        if int(cfg[name]) < 1:
            raise ConfigError(f"{name}: must be at least 1, got {cfg[name]}")
    for name in ("max_train_examples", "max_eval_examples"):
        if cfg[name] is not None and int(cfg[name]) < 1:
            raise ConfigError(f"{name}: must be at least 1, got {cfg[name]}")
    for name in ("num_epochs", "lr"):
        if not cfg[name] > 0:
            raise ConfigError(f"{name}: must be > 0, got {cfg[name]}")
    if cfg["weight_decay"] < 0 or cfg["num_warmup_steps"] < 0:
        raise ConfigError("weight_decay and num_warmup_steps: must be >= 0")
    return cfg


def load_pretrained(checkpoint, num_labels: int):
    """(tokenizer, LlamaForSequenceClassification) from a pretraining Hugging Face folder; ConfigError when the
    folder is not one, or when its model's vocabulary does not match its tokenizer."""
    from transformers import AutoConfig, AutoTokenizer, LlamaForSequenceClassification
    from transformers.utils import logging as hf_logging

    folder = Path(checkpoint)
    if not (folder / "config.json").is_file():
        hint = " (the Hugging Face model is in its hf/ subfolder)" if (folder / "hf" / "config.json").is_file() else ""
        raise ConfigError(f"checkpoint: {folder} is not a Hugging Face model folder (no config.json){hint}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError) as e:
        raise ConfigError(f"checkpoint: {folder} has no readable tokenizer ({str(e).splitlines()[0]})") from None
    mconf = AutoConfig.from_pretrained(folder)
    if len(tokenizer) != mconf.vocab_size:
        raise ConfigError(f"checkpoint: {folder}: the model's vocabulary ({mconf.vocab_size} entries) does not match "
                          f"its tokenizer ({len(tokenizer)} entries)")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise ConfigError(f"checkpoint: {folder}: the tokenizer has neither a pad nor an EOS token")
    mconf.num_labels = num_labels
    mconf.pad_token_id = pad
    hf_logging.disable_progress_bar()
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "some weights were newly initialised": the classification head, as intended
    try:
        model = LlamaForSequenceClassification.from_pretrained(folder, config=mconf, attn_implementation="sdpa",
                                                               dtype=torch.float32)
    finally:
        hf_logging.set_verbosity(level)
    return tokenizer, model


def pad_batch(seqs, pad_id, device):
    width = max(map(len, seqs))
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
    return ids.to(device), mask.to(device)


@torch.no_grad()
def evaluate(model, seqs, labels, batch_size, pad_id, device, autocast):
    """(mean cross-entropy per example, predictions) over the validation examples."""
    was_training = model.training
    model.eval()
    total, preds = 0.0, []
    for i in range(0, len(seqs), batch_size):
        ids, mask = pad_batch(seqs[i:i + batch_size], pad_id, device)
        y = torch.tensor(labels[i:i + batch_size], device=device)
        with autocast():
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
        total += F.cross_entropy(logits, y, reduction="sum").item()
        preds += logits.argmax(-1).tolist()
    model.train(was_training)
    return total / max(len(seqs), 1), preds


def epoch_order(n: int, epoch: int, seed: int) -> np.ndarray:
    """The shuffled order of the train examples in one epoch: a function of (seed, epoch) only, so a resumed
    run sees the very same batches."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def make_optimizer(model, cfg):
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg["lr"], betas=(1 - cfg["one_minus_adam_beta1"], 1 - cfg["one_minus_adam_beta2"]),
        eps=cfg["adam_epsilon"], fused=next(model.parameters()).is_cuda)


def save_hf(folder: Path, model, tokenizer, cfg, metrics):
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "babysweep.json").write_text(json.dumps({"finetuned_from": str(cfg["checkpoint"]), "task": cfg["task"],
                                                       "config": cfg, "metrics": metrics}, indent=2, default=str) + "\n")


def finetune(config: dict) -> None:
    from transformers import get_scheduler

    cfg = resolve_config(config)
    task = glue.get_task(cfg["task"])
    glue.check_task(cfg["glue_dir"], task.name)  # both splits, before any model is loaded
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(cfg["num_threads"] or trial_cpus() or torch.get_num_threads())
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" else nullcontext
    seed = int(cfg["seed"])

    torch.manual_seed(seed)  # the new classification head's initial weights
    tokenizer, model = load_pretrained(cfg["checkpoint"], task.num_labels)
    model.to(device).train()
    pad_id = model.config.pad_token_id
    max_length = int(cfg["max_length"])
    train = glue.read_split(cfg["glue_dir"], task.name, "train", cfg["max_train_examples"])
    valid = glue.read_split(cfg["glue_dir"], task.name, "validation", cfg["max_eval_examples"])
    train_x = [glue.encode(s, tokenizer, max_length) for s, _ in train]
    train_y = [y for _, y in train]
    valid_x = [glue.encode(s, tokenizer, max_length) for s, _ in valid]
    valid_y = [y for _, y in valid]

    batch_size = int(cfg["batch_size"])
    steps_per_epoch = math.ceil(len(train_x) / batch_size)  # the last batch of an epoch may be smaller
    report_at = budget_points(float(cfg["num_epochs"]), 1.0, steps_per_epoch)
    total_steps = max(report_at)
    micro = min(batch_size, int(cfg["max_device_batch_size"]))

    optimizer = make_optimizer(model, cfg)
    scheduler = get_scheduler(SCHEDULES[cfg["lr_scheduler_type"]], optimizer,
                              num_warmup_steps=int(cfg["num_warmup_steps"]), num_training_steps=total_steps)
    state = {"step": 0, "wall_s": 0.0}
    with reporting.restored_checkpoint() as folder:
        if folder is not None:
            state = load_checkpoint(folder, model, optimizer, scheduler)

    order, order_epoch = None, None
    seg_examples, seg_time, seg_loss, seg_steps = 0, 0.0, 0.0, 0
    while state["step"] < total_steps:
        t0 = time.perf_counter()
        epoch, i = divmod(state["step"], steps_per_epoch)
        if epoch != order_epoch:
            order, order_epoch = epoch_order(len(train_x), epoch, seed), epoch
        batch = order[i * batch_size:(i + 1) * batch_size]
        optimizer.zero_grad(set_to_none=True)
        step_loss = 0.0
        for start in range(0, len(batch), micro):
            chunk = batch[start:start + micro]
            ids, mask = pad_batch([train_x[j] for j in chunk], pad_id, device)
            y = torch.tensor([train_y[j] for j in chunk], device=device)
            with autocast():
                logits = model(input_ids=ids, attention_mask=mask).logits.float()
            loss = F.cross_entropy(logits, y) * (len(chunk) / len(batch))
            loss.backward()
            step_loss += loss.item()
        optimizer_step(model, optimizer, scheduler, cfg["max_grad_norm"], device)
        state["step"] += 1
        dt = time.perf_counter() - t0
        state["wall_s"] += dt
        seg_time += dt
        seg_examples += len(batch)
        seg_loss += step_loss
        seg_steps += 1
        reporting.progress(state["step"], total_steps)
        if state["step"] not in report_at:
            continue

        t_eval = time.perf_counter()
        val_loss, preds = evaluate(model, valid_x, valid_y, int(cfg["eval_batch_size"]), pad_id, device, autocast)
        value = glue.METRICS[task.metric](valid_y, preds)
        train_loss = seg_loss / seg_steps
        metrics = {
            "epoch": report_at[state["step"]], "step": state["step"], "task": task.name,
            "score": value, "metric": task.metric, task.metric: value,
            "val_loss": val_loss if math.isfinite(val_loss) else math.inf,
            "train_loss": train_loss, "lr": scheduler.get_last_lr()[0],
            "examples_per_s": seg_examples / seg_time,
            "diverged": not (math.isfinite(val_loss) and math.isfinite(train_loss)),
            "n_train": len(train_x), "n_valid": len(valid_x),
        }
        state["wall_s"] += time.perf_counter() - t_eval
        metrics["wall_s"] = state["wall_s"]
        metrics["gpu_s"] = state["wall_s"] if device.type == "cuda" else 0.0
        final = state["step"] == total_steps or metrics["diverged"]
        with reporting.scratch_dir() as folder:
            save_checkpoint(folder, model, optimizer, scheduler, state)
            if final and cfg["save_model"] and not metrics["diverged"]:
                save_hf(folder / "hf", model, tokenizer, cfg, metrics)
            if final and cfg["output_dir"] and not metrics["diverged"]:
                save_hf(Path(cfg["output_dir"]), model, tokenizer, cfg, metrics)
            reporting.report(metrics, folder)
        seg_examples, seg_time, seg_loss, seg_steps = 0, 0.0, 0.0, 0
        if metrics["diverged"]:
            return
