"""The teacher-pretraining trainable: a Llama model trained from scratch on a prepared folder.

`pretrain(config, reporter=None)` is a plain function of one config dict. It reports the validation loss at every
budget step (one epoch by default) with a checkpoint to resume from exactly, and at the end the test loss, with
the model in Hugging Face format. It knows nothing about the searcher: its reports go to the `reporter`
(trainables.reporting), Ray Tune's when None inside a trial. The shared parts of the loop are in trainables.loop.
"""
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import loop
from .data.prepared import eval_block_starts, gather_blocks, open_prepared, train_block_starts
from .errors import ConfigError
from .model import MODEL_FIELDS, build_model, count_parameters, flops_per_token, model_config, peak_flops
from .reporting import Reporter, default_reporter

# The searched hyperparameters, under the names the search spaces use. Defaults: the BabyLlama-2 teachers
# (paper Table 2: lr 7e-4, 8 epochs, batch 128, weight decay 5, cosine, 600 warm-up steps), AdamW's usual betas.
HYPERPARAMETERS = dict(
    lr=7e-4, lr_scheduler_type="cosine", num_warmup_steps=600, one_minus_adam_beta1=0.1,
    one_minus_adam_beta2=1e-3, adam_epsilon=1e-8, weight_decay=5.0, max_grad_norm=1.0, batch_size=128,
    num_epochs=8, attention_dropout=0.0, seed=0,
)
# seed: the model's initialisation; data_seed: the order of the training blocks (default: seed). A sweep gives each
# trial its own seed on one data order, as the paper's runs; a re-run changes the initialisation only.
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
    data_seed=None,             # the data order's seed (default: seed)
    output_dir=None,            # where the final Hugging Face model goes outside a sweep
)
ACCEPTED = set(HYPERPARAMETERS) | set(SETTINGS) | MODEL_FIELDS


def check_config(config: dict) -> None:
    """What a sweep checks before Ray starts (sweep.kinds): the settings every trial will get, at the space's centre."""
    resolve_config(config)


def resolve_config(config: dict) -> dict:
    cfg = loop.resolve_config(config, {**HYPERPARAMETERS, **SETTINGS}, ACCEPTED, "pretrain")
    if not cfg["data"]:
        raise ConfigError("data: the prepared data folder is required")
    if not cfg["budget_step"] > 0:
        raise ConfigError(f"budget_step: must be > 0, got {cfg['budget_step']}")
    return cfg


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


def pretrain(config: dict, reporter: Reporter | None = None) -> None:
    cfg = resolve_config(config)
    reporter = default_reporter() if reporter is None else reporter
    device, autocast = loop.setup_device(cfg["num_threads"] or reporter.cpus())
    seed = int(cfg["seed"])
    data_seed = seed if cfg["data_seed"] is None else int(cfg["data_seed"])

    # data and model
    data = open_prepared(cfg["data"])
    L = int(cfg["seq_length"] or data.meta["seq_length"])
    train_tokens, valid_tokens = data.tokens("train"), data.tokens("validation")
    overrides = {k: cfg[k] for k in MODEL_FIELDS if k in config}
    mconf = model_config(cfg["preset"], overrides, data.vocab_size, L, float(cfg["attention_dropout"]))
    torch.manual_seed(seed)
    model = build_model(mconf).to(device)
    model.train()

    # the budget in optimizer steps; every epoch has as many steps: those of the fewest whole blocks any epoch has
    # (its random phase can cost one)
    batch_size = int(cfg["batch_size"])
    n_blocks = (len(train_tokens) - L) // L
    steps_per_epoch = n_blocks // batch_size
    if steps_per_epoch < 1:
        raise ConfigError(f"batch_size: {batch_size} exceeds the {n_blocks} blocks of {L} tokens in the train split")
    report_at = loop.budget_points(float(cfg["num_epochs"]), float(cfg["budget_step"]), steps_per_epoch)
    n_chunks = math.ceil(batch_size / min(batch_size, int(cfg["max_device_batch_size"])))

    optimizer = loop.make_optimizer(model, cfg)
    scheduler = loop.make_scheduler(optimizer, cfg, max(report_at))
    progress = loop.Progress(report_at, loop.restore(reporter, model, optimizer, scheduler))
    train_model = torch.compile(model) if cfg["compile"] and device.type == "cuda" else model

    def chunk_loss(starts):
        x = torch.from_numpy(gather_blocks(train_tokens, starts, L)).to(device, non_blocking=True)
        with autocast():
            return train_model(input_ids=x, labels=x).loss

    def block_order(epoch):
        return train_block_starts(len(train_tokens), L, epoch, data_seed)

    eval_batch_size = int(cfg["eval_batch_size"])
    flops = flops_per_token(mconf, L)
    peak = cfg["peak_flops"] or peak_flops(device)
    tokenizer = data.tokenizer()  # saved with the final model
    about = {"tokenizer_sha256": data.tokenizer_sha256, "data": str(Path(data.folder).resolve()),
             "data_key": data.meta["key"], "config": cfg}
    for batch in loop.batches(progress, batch_size, steps_per_epoch, block_order):
        t0 = time.perf_counter()
        step_loss = loop.accumulate_gradients(np.array_split(batch, n_chunks), chunk_loss)
        if not math.isfinite(step_loss):  # stop now: the weights would be NaN after this step
            reporter.report({"val_loss": math.inf, "epoch": progress.step / steps_per_epoch, "diverged": True,
                             "step": progress.step, "train_loss": step_loss})
            return
        loop.optimizer_step(model, optimizer, scheduler, cfg["max_grad_norm"], device)
        progress.step_done(time.perf_counter() - t0, batch_size * L, step_loss)
        reporter.progress(progress.step, progress.total_steps)
        if not progress.at_budget_point:
            continue

        t_eval = time.perf_counter()
        val_loss = mean_loss(model, valid_tokens, L, eval_batch_size, device, autocast)
        metrics = progress.metrics(val_loss, scheduler)
        tokens_per_s = progress.items_per_s
        metrics.update(tokens_per_s=tokens_per_s, mfu=flops * tokens_per_s / peak if peak else None,
                       n_params=count_parameters(model))
        if progress.at_last_point and not metrics["diverged"] and "test" in data.splits:
            metrics["test_loss"] = mean_loss(model, data.tokens("test"), L, eval_batch_size, device, autocast)
        progress.wall_s += time.perf_counter() - t_eval
        if loop.report_budget_point(reporter, metrics, progress, model, optimizer, scheduler,
                                    tokenizer=tokenizer, about=about, scorable=True, output_dir=cfg["output_dir"]):
            return
