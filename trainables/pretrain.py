"""The teacher-pretraining trainable: a Llama model trained from scratch on a prepared folder.

`pretrain(config, reporter=None)` is a plain function of one config dict. It reports the validation loss at every
budget step (one epoch by default) with a checkpoint to resume from exactly, and at the end the test loss, with
the model in Hugging Face format. It knows nothing about the searcher: its reports go to the `reporter`
(trainables.reporting), Ray Tune's when None inside a trial. The shared parts of the loop are in trainables.loop.

The run is set up by `start` and trained by `train` on an objective (`NextToken` here), so that distillation
(trainables.distill) trains on the very same loop with its own loss.
"""
import math
import time
from dataclasses import dataclass
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
PATHS = {"data", "output_dir"}  # settings naming files: made absolute at launch (trials run elsewhere)


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
    run = start(cfg, config, reporter)
    train(run, reporter, NextToken(run))


class Diverged(Exception):
    """Raised by an objective's chunk_loss when the run cannot go on (a distillation teacher's logits are not
    finite); the loop reports the run as diverged, with the message as its warning, and stops."""


class NextToken:
    """Pretraining's objective: the model's own next-token cross-entropy. The loop (`train`) asks an objective for
    three things, so another one (trainables.distill) can train on the same loop: `chunk_loss(x)`, the mean loss
    of a chunk of blocks to backward; `step_done(batch_loss)`, the step's train_loss (the plain cross-entropy, so
    that every trainable's train_loss means the same); `metrics()`, what it adds to a report, for the steps since
    the last one."""

    def __init__(self, run):
        self.run = run

    def chunk_loss(self, x):
        with self.run.autocast():
            return self.run.train_model(input_ids=x, labels=x).loss

    def step_done(self, batch_loss: float) -> float:
        return batch_loss

    def metrics(self) -> dict:
        return {}


@dataclass
class Run:
    """What one run trains with: the data, the model, its optimizer and schedule, where it stands."""
    cfg: dict
    device: torch.device
    autocast: object
    data: object               # PreparedData
    seq_length: int
    train_tokens: np.ndarray
    valid_tokens: np.ndarray
    mconf: object              # the model's LlamaConfig
    model: torch.nn.Module
    train_model: torch.nn.Module  # the model, compiled on GPU when asked
    batch_size: int
    steps_per_epoch: int
    n_chunks: int              # gradient-accumulation chunks per batch
    optimizer: object
    scheduler: object
    progress: loop.Progress
    data_seed: int

    def block_order(self, epoch):
        return train_block_starts(len(self.train_tokens), self.seq_length, epoch, self.data_seed)


def start(cfg: dict, config: dict, reporter: Reporter, data=None) -> Run:
    """Set up a run from its resolved config (`config`: as given, for the model overrides it names): the data
    (`data`: the prepared folder, already open), the model from its seed, AdamW and its schedule, and the
    reporter's checkpoint restored when there is one to resume from."""
    device, autocast = loop.setup_device(cfg["num_threads"] or reporter.cpus())
    seed = int(cfg["seed"])
    data_seed = seed if cfg["data_seed"] is None else int(cfg["data_seed"])

    # data and model
    data = open_prepared(cfg["data"]) if data is None else data
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
    return Run(cfg, device, autocast, data, L, train_tokens, valid_tokens, mconf, model, train_model, batch_size,
               steps_per_epoch, n_chunks, optimizer, scheduler, progress, data_seed)


def train(run: Run, reporter: Reporter, objective, about: dict | None = None) -> None:
    """The loop: each step's batch, in chunks the device holds, on `objective` (NextToken for pretraining), then
    at every budget point the validation loss (the plain next-token cross-entropy, whatever the objective) with a
    checkpoint, and at the last the test loss and the Hugging Face model. `about`: what babysweep.json adds to the
    pretraining record."""
    cfg, progress, model, L = run.cfg, run.progress, run.model, run.seq_length

    def loss_of(starts):
        x = torch.from_numpy(gather_blocks(run.train_tokens, starts, L)).to(run.device, non_blocking=True)
        return objective.chunk_loss(x)

    eval_batch_size = int(cfg["eval_batch_size"])
    flops = flops_per_token(run.mconf, L)
    peak = cfg["peak_flops"] or peak_flops(run.device)
    tokenizer = run.data.tokenizer()  # saved with the final model
    about = {"tokenizer_sha256": run.data.tokenizer_sha256, "data": str(Path(run.data.folder).resolve()),
             "data_key": run.data.meta["key"], "config": cfg, **(about or {})}
    for batch in loop.batches(progress, run.batch_size, run.steps_per_epoch, run.block_order):
        t0 = time.perf_counter()
        try:
            batch_loss = loop.accumulate_gradients(np.array_split(batch, run.n_chunks), loss_of)
            train_loss, why = objective.step_done(batch_loss), {}
        except Diverged as e:
            batch_loss = train_loss = math.nan
            why = {"warning": str(e)}
        if why or not (math.isfinite(batch_loss) and math.isfinite(train_loss)):
            # stop now: the weights would be NaN after this step
            reporter.report({"val_loss": math.inf, "epoch": progress.step / run.steps_per_epoch, "diverged": True,
                             "step": progress.step, "train_loss": train_loss, **objective.metrics(), **why})
            return
        loop.optimizer_step(model, run.optimizer, run.scheduler, cfg["max_grad_norm"], run.device)
        progress.step_done(time.perf_counter() - t0, run.batch_size * L, train_loss)
        reporter.progress(progress.step, progress.total_steps)
        if not progress.at_budget_point:
            continue

        t_eval = time.perf_counter()
        val_loss = mean_loss(model, run.valid_tokens, L, eval_batch_size, run.device, run.autocast)
        metrics = progress.metrics(val_loss, run.scheduler)
        metrics.update(objective.metrics())
        tokens_per_s = progress.items_per_s
        metrics.update(tokens_per_s=tokens_per_s, mfu=flops * tokens_per_s / peak if peak else None,
                       n_params=count_parameters(model))
        if progress.at_last_point and not metrics["diverged"] and "test" in run.data.splits:
            metrics["test_loss"] = mean_loss(model, run.data.tokens("test"), L, eval_batch_size, run.device,
                                             run.autocast)
        progress.wall_s += time.perf_counter() - t_eval
        if loop.report_budget_point(reporter, metrics, progress, model, run.optimizer, run.scheduler,
                                    tokenizer=tokenizer, about=about, scorable=True, output_dir=cfg["output_dir"]):
            return
