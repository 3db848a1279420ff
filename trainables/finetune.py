"""The fine-tuning trainable: a pretrained Llama checkpoint fine-tuned on one (Super)GLUE task.

`finetune(config, reporter=None)` is a plain function of one config dict, like `trainables.pretrain.pretrain`.
It loads a Hugging Face folder written by the pretraining trainable (model + tokenizer, e.g. `<checkpoint>/hf`),
builds LlamaForSequenceClassification from it (a new classification head, num_labels from the task, the
tokenizer's pad token set in the config), fine-tunes it on `task` from `glue_dir` (trainables.glue), and reports
to `reporter` (trainables.reporting; Ray Tune's when None inside a trial) at the end of every epoch:

    epoch, step, score (the task's metric, under a fixed name for searchers), metric (its name: accuracy, f1, mcc),
    <metric> (the same value under its own name), val_loss (validation cross-entropy, nats per example),
    train_loss (mean over the epoch's steps), lr, examples_per_s, wall_s, gpu_s, n_train, n_valid

each with a checkpoint holding model, optimizer, scheduler, RNG and position, from which a paused run resumes
exactly (bit-exact on CPU; trainables.loop). The last checkpoint also holds the fine-tuned model in Hugging Face
format (`hf/`).
Defaults follow the paper: seed 12, AdamW with the Hugging Face Trainer's settings, no early stopping; the
per-task values of Table 4 are in trainables.glue.TABLE4.
"""
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import glue, loop
from .errors import ConfigError
from .model import WEIGHT_FILES
from .reporting import Reporter, default_reporter

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
    cfg = loop.resolve_config(config, {**HYPERPARAMETERS, **SETTINGS}, ACCEPTED, "finetune")
    for name in ("checkpoint", "glue_dir", "task"):
        if not cfg[name]:
            raise ConfigError(f"{name}: required by the finetune trainable")
    glue.get_task(cfg["task"])
    if int(cfg["max_length"]) < 1:
        raise ConfigError(f"max_length: must be at least 1, got {cfg['max_length']}")
    for name in ("max_train_examples", "max_eval_examples"):
        if cfg[name] is not None and int(cfg[name]) < 1:
            raise ConfigError(f"{name}: must be at least 1, got {cfg[name]}")
    return cfg


def load_pretrained(checkpoint, num_labels: int):
    """(tokenizer, LlamaForSequenceClassification) from a pretraining Hugging Face folder; ConfigError when the
    folder is not one, or when its model's vocabulary does not match its tokenizer."""
    from transformers import AutoConfig, AutoTokenizer, LlamaForSequenceClassification
    from transformers.utils import logging as hf_logging

    folder = Path(checkpoint)
    hint = " (the Hugging Face model is in its hf/ subfolder)" if (folder / "hf" / "config.json").is_file() else ""
    if not (folder / "config.json").is_file():
        raise ConfigError(f"checkpoint: {folder} is not a Hugging Face model folder (no config.json){hint}")
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        # a pretraining checkpoint holds config.json for scoring, its weights in trainer_state.pt
        raise ConfigError(f"checkpoint: {folder} is not a Hugging Face model folder (no weights file){hint}")
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


def finetune(config: dict, reporter: Reporter | None = None) -> None:
    cfg = resolve_config(config)
    task = glue.get_task(cfg["task"])
    glue.check_task(cfg["glue_dir"], task.name)  # both splits, before any model is loaded
    reporter = default_reporter() if reporter is None else reporter
    device, autocast = loop.setup_device(cfg["num_threads"] or reporter.cpus())
    seed = int(cfg["seed"])

    # model and examples
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

    # the budget in optimizer steps: whole epochs, the last batch of each may be smaller
    batch_size = int(cfg["batch_size"])
    steps_per_epoch = math.ceil(len(train_x) / batch_size)
    report_at = loop.budget_points(float(cfg["num_epochs"]), 1.0, steps_per_epoch)
    chunk_size = min(batch_size, int(cfg["max_device_batch_size"]))

    optimizer = loop.make_optimizer(model, cfg)
    scheduler = loop.make_scheduler(optimizer, cfg, max(report_at))
    progress = loop.Progress(report_at, loop.restore(reporter, model, optimizer, scheduler))

    def chunk_loss(examples):
        ids, mask = pad_batch([train_x[j] for j in examples], pad_id, device)
        y = torch.tensor([train_y[j] for j in examples], device=device)
        with autocast():
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
        return F.cross_entropy(logits, y)

    def example_order(epoch):
        return epoch_order(len(train_x), epoch, seed)

    about = {"finetuned_from": str(cfg["checkpoint"]), "task": task.name, "config": cfg}
    for batch in loop.batches(progress, batch_size, steps_per_epoch, example_order):
        t0 = time.perf_counter()
        chunks = [batch[start:start + chunk_size] for start in range(0, len(batch), chunk_size)]
        step_loss = loop.accumulate_gradients(chunks, chunk_loss)
        loop.optimizer_step(model, optimizer, scheduler, cfg["max_grad_norm"], device)
        progress.step_done(time.perf_counter() - t0, len(batch), step_loss)
        reporter.progress(progress.step, progress.total_steps)
        if not progress.at_budget_point:
            continue

        t_eval = time.perf_counter()
        val_loss, preds = evaluate(model, valid_x, valid_y, int(cfg["eval_batch_size"]), pad_id, device, autocast)
        score = glue.METRICS[task.metric](valid_y, preds)
        metrics = progress.metrics(val_loss, scheduler)
        metrics.update({"task": task.name, "score": score, "metric": task.metric, task.metric: score,
                        "examples_per_s": progress.items_per_s, "n_train": len(train_x), "n_valid": len(valid_x)})
        progress.wall_s += time.perf_counter() - t_eval
        if loop.report_budget_point(reporter, metrics, progress, model, optimizer, scheduler, tokenizer=tokenizer,
                                    about=about, model_in_checkpoint=cfg["save_model"], output_dir=cfg["output_dir"]):
            return
