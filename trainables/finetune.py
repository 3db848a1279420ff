"""The fine-tuning trainable: a pretrained Llama checkpoint fine-tuned on one (Super)GLUE task.

`finetune(config, reporter=None)` is a plain function of one config dict, like `trainables.pretrain.pretrain`.
It loads a Hugging Face folder written by the pretraining trainable (model + tokenizer, e.g. `<checkpoint>/hf`),
builds LlamaForSequenceClassification from it (a new classification head, num_labels from the task, the
tokenizer's pad token set in the config), fine-tunes it on `task` from `glue_dir` (trainables.glue: each example
is one utterance, `<s>` + the task's template + `</s>`, classified at that final `</s>`), and reports to `reporter`
(trainables.reporting; Ray Tune's when None inside a trial) at the end of every epoch:

    epoch, step, score (the task's metric, under a fixed name for searchers), metric (its name: accuracy, f1, mcc),
    <metric> (the same value under its own name), val_loss (validation cross-entropy, nats per example),
    train_loss (mean over the epoch's steps), lr, examples_per_s, wall_s, gpu_s, n_train, n_valid, keep,
    best_score, best_epoch, best_<metric> (the best epoch so far by the task's metric, the earlier one on a tie),

each with a checkpoint holding model, optimizer, scheduler, RNG, position and the best epoch so far (its report,
and its weights when they are not the checkpoint's own), from which a paused run resumes exactly (bit-exact on CPU;
trainables.loop).

The model kept (`keep`, default best): with `best`, the fine-tuned model written at the end (the last
checkpoint's `hf/`, and `output_dir` when given) is the best epoch's, and its babysweep.json holds that epoch's
report; with `last`, the last epoch's. Every earlier checkpoint holds the model kept so far in its `hf/` too (the
best epoch's up to there, or that epoch's), as a pretraining checkpoint is scorable where it stands: a trial that
HyperBand stops at a rung, or that is paused and never resumed, has its model, which the results table names
(sweep/results.py's `checkpoint` column) like any other. Every epoch is reported either way (BOHB needs each budget point); the best
weights live in memory (on the CPU) while the run goes on and in each checkpoint while they are not the current
ones, so a run paused after its best epoch and resumed still ends with that epoch's model.

A direct ensemble (an ensemble folder of trainables.ensemble as `checkpoint`) is fine-tuned as the paper did: one
classifier per member, built as above, trained together as a SequenceClassificationEnsemble (class logits the mean
of the members' class logits, every member's parameters in the optimizer); its checkpoints hold the whole ensemble,
and the model written at the end is an ensemble folder (member_NN/ classifiers, ensemble.json), which score_model
reads.

MNLI-mm: the mnli run also scores its model on the mismatched validation file when glue_dir has it
(`mnli-mm.valid.jsonl`), reporting mnli_mm_accuracy, mnli_mm_val_loss and mnli_mm_n_valid beside the matched
score every epoch (and best_mnli_mm_accuracy, at the best epoch by the matched score). task=mnli-mm is a
ConfigError: it has no training of its own, fine-tune mnli.

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
from .ensemble import (classifier_ensemble_for_finetuning, is_ensemble,
                       load_classification_ensemble)
from .errors import ConfigError, DataError
from .model import WEIGHT_FILES, read_model_config, reading_weights
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
    keep="best",                # the model written at the end: the best epoch's by the task's metric, or the last's
)
KEEP = ("best", "last")
ACCEPTED = set(HYPERPARAMETERS) | set(SETTINGS)
PATHS = {"checkpoint", "glue_dir", "output_dir"}  # settings naming files: made absolute at launch


def check_config(config: dict) -> None:
    """What a sweep checks before Ray starts (sweep.kinds): the settings every trial will get, at the space's
    centre, and the files they name: the task's two splits in glue_dir (boolq in glue_filtered has no train file:
    every trial would fail) and the model folder to fine-tune."""
    cfg = resolve_config(config)
    glue.check_task(cfg["glue_dir"], cfg["task"])
    if not Path(cfg["checkpoint"]).is_dir():
        raise ConfigError(f"checkpoint: {cfg['checkpoint']} is not a folder (a pretrained Hugging Face folder, "
                          f"e.g. a trial's checkpoint_*/hf)")


def resolve_config(config: dict) -> dict:
    cfg = loop.resolve_config(config, {**HYPERPARAMETERS, **SETTINGS}, ACCEPTED, "finetune")
    for name in ("checkpoint", "glue_dir", "task"):
        if not cfg[name]:
            raise ConfigError(f"{name}: required by the finetune trainable")
    task = glue.get_task(cfg["task"])
    if task.part_of:
        raise ConfigError(f"task {task.name}: has no fine-tuning of its own; fine-tune {task.part_of}, whose run also "
                          f"scores {task.name} ({task.key}_{task.metric} in its reports)")
    if cfg["keep"] not in KEEP:
        raise ConfigError(f"keep: {cfg['keep']!r} is not one of {', '.join(KEEP)}")
    if int(cfg["max_length"]) < 1:
        raise ConfigError(f"max_length: must be at least 1, got {cfg['max_length']}")
    for name in ("max_train_examples", "max_eval_examples"):
        if cfg[name] is not None and int(cfg[name]) < 1:
            raise ConfigError(f"{name}: must be at least 1, got {cfg[name]}")
    return cfg


def load_pretrained(checkpoint, num_labels: int):
    """(tokenizer, LlamaForSequenceClassification) from a pretraining Hugging Face folder; ConfigError when the
    folder is not one, or when its model's vocabulary does not match its tokenizer. An ensemble folder
    (trainables.ensemble) gives a SequenceClassificationEnsemble of one such classifier per member, fine-tuned
    together (the mean of their class logits)."""
    folder = Path(checkpoint)
    if is_ensemble(folder):
        return classifier_ensemble_for_finetuning(
            folder, lambda member, tokenizer: build_classifier(member, tokenizer, num_labels))
    hint = " (the Hugging Face model is in its hf/ subfolder)" if (folder / "hf" / "config.json").is_file() else ""
    if not (folder / "config.json").is_file():
        raise ConfigError(f"checkpoint: {folder} is not a Hugging Face model folder (no config.json){hint}")
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        # a pretraining checkpoint holds config.json for scoring, its weights in trainer_state.pt
        raise ConfigError(f"checkpoint: {folder} is not a Hugging Face model folder (no weights file){hint}")
    tokenizer = read_tokenizer(folder, "checkpoint")
    return tokenizer, build_classifier(folder, tokenizer, num_labels)


def read_tokenizer(folder, what: str):
    """The tokenizer of the model folder `folder`; ConfigError (one line, starting with `what`) when it has none
    or its tokenizer.json does not parse."""
    from transformers import AutoTokenizer

    from .data.tokenizer import read_tokenizer_file

    folder = Path(folder)
    try:
        if (folder / "tokenizer.json").is_file():
            read_tokenizer_file(folder / "tokenizer.json")  # transformers' own failures on it are anything but one line
        return AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    except DataError as e:
        raise ConfigError(f"{what}: {e}") from None
    except (OSError, ValueError, KeyError) as e:
        raise ConfigError(f"{what}: {folder} has no readable tokenizer ({str(e).splitlines()[0]})") from None


def build_classifier(folder, tokenizer, num_labels: int):
    """LlamaForSequenceClassification from the causal LM in `folder` with `tokenizer`: a new classification head,
    the pad token set in its config."""
    from transformers import LlamaForSequenceClassification
    from transformers.utils import logging as hf_logging

    mconf = read_model_config(folder)
    if len(tokenizer) != mconf.vocab_size:
        raise ConfigError(f"checkpoint: {folder}: the model's vocabulary ({mconf.vocab_size} entries) does not match "
                          f"its tokenizer ({len(tokenizer)} entries)")
    # The classifier reads the last token that is not padding: the final </s>. Padding must then never be EOS.
    pad = tokenizer.pad_token_id
    if pad is None or pad == tokenizer.eos_token_id:
        pad = tokenizer.bos_token_id
    if pad is None or pad == tokenizer.eos_token_id:
        raise ConfigError(f"checkpoint: {folder}: the tokenizer has neither a pad nor a BOS token apart from its EOS")
    mconf.num_labels = num_labels
    mconf.pad_token_id = pad
    hf_logging.disable_progress_bar()
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "some weights were newly initialised": the classification head, as intended
    try:
        with reading_weights(folder):
            model = LlamaForSequenceClassification.from_pretrained(folder, config=mconf, attn_implementation="sdpa",
                                                                   dtype=torch.float32, weights_only=True)
    finally:
        hf_logging.set_verbosity(level)
    return model


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


class BestEpoch:
    """The best epoch so far by the task's score (a diverged epoch never is; on a tie, the earlier): its report, the
    step it was reached at, and, with keep=best, its weights (a copy on the CPU) once training has moved past it.
    It rides in every checkpoint (loop's extra_state), its weights only while they differ from the checkpoint's."""

    def __init__(self, keep_weights: bool, saved: dict | None, model):
        self.keep_weights = keep_weights
        extra = (saved or {}).get("extra") or {}
        self.metrics, self.step, self.state = extra.get("best_metrics"), extra.get("best_step"), extra.get("best_model")
        if self.keep_weights and self.state is None and self.metrics is not None and self.step == saved["step"]:
            self.state = self.copy(model)  # the checkpoint resumed from is the best epoch's: the model holds it

    @staticmethod
    def copy(model) -> dict:
        return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}

    def update(self, metrics: dict, step: int, model, at_last_point: bool) -> None:
        """Consider this epoch's report. `metrics` is kept as it is, the very dict then reported: what the report
        adds to it (best_*, wall_s, gpu_s) is part of the best epoch's report too."""
        if metrics["diverged"] or (self.metrics is not None and not metrics["score"] > self.metrics["score"]):
            return
        self.metrics, self.step = metrics, step
        # the model is this epoch's now; a copy is needed only while training goes on
        self.state = self.copy(model) if self.keep_weights and not at_last_point else None

    def fields(self, task, extra_tasks) -> dict:
        """best_score, best_epoch, best_<metric> (and best_<task>_<metric> of the tasks also scored) for a report."""
        if self.metrics is None:
            return {}
        out = {"best_score": self.metrics["score"], "best_epoch": self.metrics["epoch"],
               f"best_{task.metric}": self.metrics["score"]}
        for t in extra_tasks:
            out[f"best_{t.key}_{t.metric}"] = self.metrics.get(f"{t.key}_{t.metric}")
        return out

    def extra_state(self, step: int) -> dict:
        """What the checkpoint at `step` saves: the weights only when they are not that checkpoint's own."""
        return {"best_metrics": self.metrics, "best_step": self.step,
                "best_model": self.state if self.step != step else None}

    def kept(self, step: int):
        """loop.report_budget_point's `kept`: the best weights (None: the model's current ones) and report."""
        return (self.state if self.step != step else None), self.metrics


def finetune(config: dict, reporter: Reporter | None = None) -> None:
    cfg = resolve_config(config)
    task = glue.get_task(cfg["task"])
    glue.check_task(cfg["glue_dir"], task.name)  # both splits, before any model is loaded
    reporter = default_reporter() if reporter is None else reporter
    device, autocast = loop.setup_device(cfg["num_threads"] or reporter.cpus())
    seed = int(cfg["seed"])
    keep = cfg["keep"]

    # model and examples
    torch.manual_seed(seed)  # the new classification head's initial weights
    tokenizer, model = load_pretrained(cfg["checkpoint"], task.num_labels)
    model.to(device).train()
    pad_id = model.config.pad_token_id
    max_length = int(cfg["max_length"])
    train_x, train_y = encode_split(cfg["glue_dir"], task, "train", tokenizer, max_length, cfg["max_train_examples"])
    valid = {task.name: encode_split(cfg["glue_dir"], task, "validation", tokenizer, max_length,
                                     cfg["max_eval_examples"])}
    extra_tasks = glue.also_scored(cfg["glue_dir"], task.name)  # mnli: mnli-mm, when its file is there
    for t in extra_tasks:
        valid[t.name] = encode_split(cfg["glue_dir"], t, "validation", tokenizer, max_length, cfg["max_eval_examples"])

    # the budget in optimizer steps: whole epochs, the last batch of each may be smaller
    batch_size = int(cfg["batch_size"])
    steps_per_epoch = math.ceil(len(train_x) / batch_size)
    report_at = loop.budget_points(float(cfg["num_epochs"]), 1.0, steps_per_epoch)
    chunk_size = min(batch_size, int(cfg["max_device_batch_size"]))

    optimizer = loop.make_optimizer(model, cfg)
    scheduler = loop.make_scheduler(optimizer, cfg, max(report_at))
    saved = loop.restore(reporter, model, optimizer, scheduler)
    progress = loop.Progress(report_at, saved)
    best = BestEpoch(keep == "best", saved, model)

    def chunk_loss(examples):
        ids, mask = pad_batch([train_x[j] for j in examples], pad_id, device)
        y = torch.tensor([train_y[j] for j in examples], device=device)
        with autocast():
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
        return F.cross_entropy(logits, y)

    def example_order(epoch):
        return epoch_order(len(train_x), epoch, seed)

    about = {"finetuned_from": str(cfg["checkpoint"]), "task": task.name, "input": f"<s>{task.template}</s>",
             "keep": keep, "config": cfg}
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
        scores = {}
        for t in [task, *extra_tasks]:
            xs, ys = valid[t.name]
            val_loss, preds = evaluate(model, xs, ys, int(cfg["eval_batch_size"]), pad_id, device, autocast)
            scores[t.name] = (glue.METRICS[t.metric](ys, preds), val_loss, len(xs))
        score, val_loss, n_valid = scores[task.name]
        metrics = progress.metrics(val_loss, scheduler)
        metrics.update({"task": task.name, "score": score, "metric": task.metric, task.metric: score,
                        "examples_per_s": progress.items_per_s, "n_train": len(train_x), "n_valid": n_valid,
                        "keep": keep})
        for t in extra_tasks:
            s, loss, n = scores[t.name]
            metrics.update({f"{t.key}_{t.metric}": s, f"{t.key}_val_loss": loss, f"{t.key}_n_valid": n})
        best.update(metrics, progress.step, model, progress.at_last_point)
        metrics.update(best.fields(task, extra_tasks))
        progress.wall_s += time.perf_counter() - t_eval
        if loop.report_budget_point(reporter, metrics, progress, model, optimizer, scheduler, tokenizer=tokenizer,
                                    about=about, model_in_checkpoint=cfg["save_model"], output_dir=cfg["output_dir"],
                                    extra_state=best.extra_state(progress.step),
                                    kept=best.kept(progress.step) if keep == "best" else None,
                                    kept_in_every_checkpoint=True):
            return


def encode_split(glue_dir, task, split, tokenizer, max_length, limit=None) -> tuple[list, list]:
    """(token ids per example, labels) of one split of `task` (a glue.Task)."""
    examples = glue.read_split(glue_dir, task.name, split, limit)
    return [glue.encode(task, values, tokenizer, max_length) for values, _ in examples], [y for _, y in examples]


def score_model(folder, glue_dir, task: str, max_eval_examples=None, max_length=128, eval_batch_size=64,
                num_threads=None) -> dict:
    """A fine-tuned Hugging Face folder (a run's hf/ or output_dir; a fine-tuned ensemble's folder too) scored on a
    task's validation file as the trainable scores it: {"score", "val_loss", "n_valid"}."""
    from transformers import LlamaForSequenceClassification

    t = glue.get_task(task)
    device, autocast = loop.setup_device(num_threads)
    tokenizer = read_tokenizer(folder, "model")
    if is_ensemble(folder):
        model = load_classification_ensemble(folder)
    else:
        config = read_model_config(folder)
        with reading_weights(folder):
            model = LlamaForSequenceClassification.from_pretrained(folder, config=config, attn_implementation="sdpa",
                                                                   dtype=torch.float32, weights_only=True)
    model.to(device)
    xs, ys = encode_split(glue_dir, t, "validation", tokenizer, int(max_length), max_eval_examples)
    val_loss, preds = evaluate(model, xs, ys, int(eval_batch_size), model.config.pad_token_id, device, autocast)
    return {"score": glue.METRICS[t.metric](ys, preds), "val_loss": val_loss, "n_valid": len(xs)}
