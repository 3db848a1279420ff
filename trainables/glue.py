"""(Super)GLUE tasks as the BabyLM evaluation ships them: a registry of tasks, readers, formatting and metrics.

Layout of a GLUE folder (e.g. glue_filtered/): one JSON object per line, `<file>.<split>.jsonl`, split `train` or
`valid`; MNLI-mm has no train file of its own and trains on MNLI's. Fields, by task:

    boolq    question, passage                  label 0/1           accuracy
    cola     sentence                           label 0/1           Matthews correlation (mcc)
    mnli     premise, hypothesis                label 0/1/2         accuracy   (mnli-mm: the mismatched valid file)
    mrpc     sentence1, sentence2               label 0/1           F1 of class 1
    multirc  paragraph, question, answer        label 0/1           accuracy
    qnli     question, sentence                 label 0/1           accuracy
    qqp      question1, question2                label 0/1           F1 of class 1
    rte      sentence1, sentence2               label 0/1           accuracy
    sst2     sentence                           label 0/1           accuracy
    wsc      text, span2_text, span1_text       label 0/1           accuracy   (does the pronoun refer to span 1?)

An example becomes one token sequence: <s> segment1 </s> segment2 </s> ... (the tokenizer's BOS, its EOS as the
separator and at the end, where LlamaForSequenceClassification pools). Every problem is a GlueError of one line
naming the task, and the file and line where there is one.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError


class GlueError(ConfigError):
    """A GLUE task or file is wrong: one line naming the task, file and line."""


@dataclass(frozen=True)
class Task:
    name: str
    fields: tuple          # the record fields that form the text, in order
    labels: tuple          # the label set (integers, as in the files)
    metric: str            # accuracy | f1 | mcc
    train_file: str        # file stem of the train split
    valid_file: str        # file stem of the validation split

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def path(self, glue_dir, split: str) -> Path:
        stem = self.train_file if split == "train" else self.valid_file
        return Path(glue_dir) / f"{stem}.{SPLIT_SUFFIX[split]}.jsonl"


SPLIT_SUFFIX = {"train": "train", "validation": "valid"}


def _task(name, fields, labels=(0, 1), metric="accuracy", train=None, valid=None):
    return Task(name, tuple(fields), tuple(labels), metric, train or name, valid or name)


TASKS = {t.name: t for t in (
    _task("cola", ["sentence"], metric="mcc"),
    _task("sst2", ["sentence"]),
    _task("mrpc", ["sentence1", "sentence2"], metric="f1"),
    _task("qqp", ["question1", "question2"], metric="f1"),
    _task("mnli", ["premise", "hypothesis"], labels=(0, 1, 2)),
    _task("mnli-mm", ["premise", "hypothesis"], labels=(0, 1, 2), train="mnli"),
    _task("qnli", ["question", "sentence"]),
    _task("rte", ["sentence1", "sentence2"]),
    _task("boolq", ["question", "passage"]),
    _task("multirc", ["paragraph", "question", "answer"]),
    _task("wsc", ["text", "span2_text", "span1_text"]),
)}

# The paper's Table 4 (BabyLlama-2): fine-tuning hyperparameters per task; seed 12 for all runs, no early stopping.
# MNLI-mm uses MNLI's.
TABLE4 = {
    "cola": dict(lr=1e-5, batch_size=32, num_epochs=10, weight_decay=0.15, lr_scheduler_type="linear", num_warmup_steps=600),
    "sst2": dict(lr=2e-6, batch_size=24, num_epochs=2, weight_decay=5.0, lr_scheduler_type="constant", num_warmup_steps=200),
    "mrpc": dict(lr=1e-5, batch_size=1, num_epochs=2, weight_decay=2.0, lr_scheduler_type="cosine", num_warmup_steps=500),
    "qqp": dict(lr=4.5e-6, batch_size=32, num_epochs=6, weight_decay=2.0, lr_scheduler_type="linear", num_warmup_steps=500),
    "mnli": dict(lr=1e-5, batch_size=32, num_epochs=2, weight_decay=1.0, lr_scheduler_type="linear", num_warmup_steps=500),
    "qnli": dict(lr=5e-6, batch_size=32, num_epochs=2, weight_decay=0.3, lr_scheduler_type="cosine", num_warmup_steps=200),
    "rte": dict(lr=1e-5, batch_size=2, num_epochs=2, weight_decay=10.0, lr_scheduler_type="cosine", num_warmup_steps=200),
    "boolq": dict(lr=2e-5, batch_size=8, num_epochs=1, weight_decay=0.1, lr_scheduler_type="cosine", num_warmup_steps=200),
    "multirc": dict(lr=1e-5, batch_size=8, num_epochs=2, weight_decay=2.0, lr_scheduler_type="cosine", num_warmup_steps=500),
    "wsc": dict(lr=2e-6, batch_size=1, num_epochs=24, weight_decay=0.4, lr_scheduler_type="cosine", num_warmup_steps=500),
}
TABLE4["mnli-mm"] = dict(TABLE4["mnli"])
SEED = 12


def get_task(name: str) -> Task:
    task = TASKS.get(name)
    if task is None:
        raise GlueError(f"task {name!r}: unknown task (known: {', '.join(TASKS)})")
    return task


# -----------------------------------------------------------------------------
# Files


def split_path(glue_dir, task: str, split: str) -> Path:
    """The file of one split; GlueError when it is absent."""
    t = get_task(task)
    path = t.path(glue_dir, split)
    if not Path(glue_dir).is_dir():
        raise GlueError(f"task {task}: GLUE folder {glue_dir} does not exist")
    if not path.is_file():
        raise GlueError(f"task {task}: no {split} split ({path.name} is missing in {glue_dir}); "
                        f"fine-tuning needs both train and validation")
    return path


def check_task(glue_dir, task: str) -> None:
    """GlueError unless `task` is known and has both splits in glue_dir."""
    for split in SPLIT_SUFFIX:
        split_path(glue_dir, task, split)


def available_tasks(glue_dir) -> list[str]:
    """Tasks (registry order) that have both a train and a validation file in glue_dir."""
    return [name for name, t in TASKS.items()
            if all(t.path(glue_dir, s).is_file() for s in SPLIT_SUFFIX)]


def parse_record(task: Task, record, where: str) -> tuple[list[str], int]:
    """One JSON record -> (text segments, label); GlueError naming `where` (file:line)."""
    if not isinstance(record, dict):
        raise GlueError(f"{where}: expected a JSON object, got {type(record).__name__}")
    segments = []
    for name in task.fields:
        value = record.get(name)
        if not isinstance(value, str):
            problem = "missing" if name not in record else f"not a string ({value!r})"
            raise GlueError(f"{where}: field '{name}' {problem} (task {task.name} needs {', '.join(task.fields)})")
        segments.append(value)
    label = record.get("label")
    if isinstance(label, bool) or not isinstance(label, int) or label not in task.labels:
        raise GlueError(f"{where}: label {label!r} is not one of the labels of {task.name} "
                        f"({', '.join(map(str, task.labels))})")
    return segments, label


def read_split(glue_dir, task: str, split: str, limit: int | None = None) -> list[tuple[list[str], int]]:
    """The examples of one split as (segments, label), in file order; at most `limit` of them."""
    t = get_task(task)
    path = split_path(glue_dir, task, split)
    examples = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if limit is not None and len(examples) >= limit:
                break
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise GlueError(f"{where}: not valid JSON ({e.msg}, column {e.colno})") from None
            examples.append(parse_record(t, record, where))
    if not examples:
        raise GlueError(f"{path}: no examples (task {task}, {split} split)")
    return examples


# -----------------------------------------------------------------------------
# Formatting


def encode(segments: list[str], tokenizer, max_length: int) -> list[int]:
    """<s> seg1 </s> seg2 </s> ...: token ids, at most max_length; the longest segment is cut first."""
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    if eos is None:
        raise GlueError("tokenizer: has no EOS token to separate and end the segments")
    pieces = [list(ids) for ids in tokenizer(segments, add_special_tokens=False)["input_ids"]]
    special = len(pieces) + (bos is not None)
    budget = max_length - special
    if budget < len(pieces):
        raise GlueError(f"max_length: {max_length} is too short for {len(pieces)} segments and special tokens")
    excess = sum(map(len, pieces)) - budget
    while excess > 0:  # cut the longest segment, down to the next longest at most, until it fits
        order = sorted(range(len(pieces)), key=lambda i: -len(pieces[i]))
        i = order[0]
        second = len(pieces[order[1]]) if len(order) > 1 else 0
        cut = min(excess, max(1, len(pieces[i]) - second))
        pieces[i] = pieces[i][:len(pieces[i]) - cut]
        excess -= cut
    ids = [bos] if bos is not None else []
    for p in pieces:
        ids += p + [eos]
    return ids


# -----------------------------------------------------------------------------
# Metrics (labels and predictions are sequences of ints)


def accuracy(labels, preds) -> float:
    return sum(int(a == b) for a, b in zip(labels, preds)) / max(len(labels), 1)


def f1(labels, preds, positive=1) -> float:
    """F1 of the positive class (GLUE's F1 for MRPC and QQP); 0 when there is no true positive."""
    tp = sum(1 for y, p in zip(labels, preds) if y == positive and p == positive)
    fp = sum(1 for y, p in zip(labels, preds) if y != positive and p == positive)
    fn = sum(1 for y, p in zip(labels, preds) if y == positive and p != positive)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def mcc(labels, preds) -> float:
    """Matthews correlation (binary; CoLA's metric); 0 when a row or column of the confusion matrix is empty."""
    tp = sum(1 for y, p in zip(labels, preds) if y == 1 and p == 1)
    tn = sum(1 for y, p in zip(labels, preds) if y != 1 and p != 1)
    fp = sum(1 for y, p in zip(labels, preds) if y != 1 and p == 1)
    fn = sum(1 for y, p in zip(labels, preds) if y == 1 and p != 1)
    denom = ((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)) ** 0.5
    return (tp * tn - fp * fn) / denom if denom else 0.0


METRICS = {"accuracy": accuracy, "f1": f1, "mcc": mcc}


def score(task: str, labels, preds) -> float:
    return METRICS[get_task(task).metric](labels, preds)
