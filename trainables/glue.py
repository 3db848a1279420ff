"""(Super)GLUE tasks as the BabyLM evaluation ships them: a registry of tasks, readers, templates and metrics.

Layout of a GLUE folder (e.g. glue_filtered/): one JSON object per line, `<file>.<split>.jsonl`, split `train` or
`valid`. Each task turns a record into one utterance with its template (a format string over the record's fields,
the authors' wording), is scored by its metric, and is labelled as the files say:

    task     template                                                labels  metric
    boolq    {question} {passage}                                    0/1     accuracy
    cola     {sentence}                                              0/1     Matthews correlation (mcc)
    mnli     {premise} {hypothesis}                                  0/1/2   accuracy
    mnli-mm  {premise} {hypothesis}                                  0/1/2   accuracy   (scored by mnli's run)
    mrpc     {sentence1} {sentence2}                                 0/1     F1 of class 1
    multirc  {paragraph} Question: {question} Answer: {answer}       0/1     accuracy
    qnli     {question} {sentence}                                   0/1     accuracy
    qqp      {question1} {question2}                                 0/1     F1 of class 1
    rte      {sentence1} {sentence2}                                 0/1     accuracy
    sst2     {sentence}                                              0/1     accuracy
    wsc      {text} Does "{span2_text}" refer to "{span1_text}"?     0/1     accuracy   (span 2: the pronoun)

MNLI-mm is no task of its own to train: it is MNLI's model scored on the mismatched validation file
(`mnli-mm.valid.jsonl`, when the folder has it). Its registry entry (`part_of="mnli"`) names that file;
`available_tasks` lists only the tasks that train, and mnli's entry names mnli-mm in `also_scores`.

An example is one utterance, as pretraining sees one (`<s> utterance </s>`, every line of the corpus): the
tokenizer's BOS, the template's text, its EOS, where LlamaForSequenceClassification pools; no special token
anywhere else (a record holding the text "</s>" is tokenized as plain characters). When it is longer than
max_length, the longest field is cut first (from its end), never the template's own words nor the special tokens:
each field is tokenized on its own, with the space before it when the template has one (" " + question after
" Question:"): a byte-level BPE without prefix space splits text into words at the space before each word, so
the pieces' tokens are those of the whole text (tests/test_glue_templates.py checks it on real lines; WSC's spans
sit between quotes, which holds as long as a span starts and ends with a letter or digit, as every real one does:
a span ending in "." would merge with the closing quote in the whole text, not in the pieces). Every
problem is a GlueError of one line naming the task, and the file and line where there is one.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from string import Formatter

from .errors import ConfigError


class GlueError(ConfigError):
    """A GLUE task or file is wrong: one line naming the task, file and line."""


@dataclass(frozen=True)
class Task:
    name: str
    template: str          # a format string over the record's fields: the text of the one utterance
    labels: tuple          # the label set (integers, as in the files)
    metric: str            # accuracy | f1 | mcc
    train_file: str        # file stem of the train split
    valid_file: str        # file stem of the validation split
    part_of: str | None = None  # scored by that task's run, never trained on its own (mnli-mm: mnli)
    also_scores: tuple = ()     # tasks its run also scores on their validation file (mnli: mnli-mm)

    @property
    def fields(self) -> tuple:
        """The record fields of the template, in the order it uses them."""
        return tuple(name for _, name, _, _ in Formatter().parse(self.template) if name is not None)

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @property
    def key(self) -> str:
        """The task's name in report keys: mnli_mm_accuracy."""
        return self.name.replace("-", "_")

    def path(self, glue_dir, split: str) -> Path:
        stem = self.train_file if split == "train" else self.valid_file
        return Path(glue_dir) / f"{stem}.{SPLIT_SUFFIX[split]}.jsonl"

    def render(self, values) -> str:
        """The utterance's text (without the special tokens) of one record's field values."""
        return self.template.format(**dict(zip(self.fields, values)))


SPLIT_SUFFIX = {"train": "train", "validation": "valid"}


def _task(name, template, labels=(0, 1), metric="accuracy", train=None, valid=None, part_of=None, also_scores=()):
    return Task(name, template, tuple(labels), metric, train or name, valid or name, part_of, tuple(also_scores))


TASKS = {t.name: t for t in (
    _task("cola", "{sentence}", metric="mcc"),
    _task("sst2", "{sentence}"),
    _task("mrpc", "{sentence1} {sentence2}", metric="f1"),
    _task("qqp", "{question1} {question2}", metric="f1"),
    _task("mnli", "{premise} {hypothesis}", labels=(0, 1, 2), also_scores=["mnli-mm"]),
    _task("mnli-mm", "{premise} {hypothesis}", labels=(0, 1, 2), train="mnli", part_of="mnli"),
    _task("qnli", "{question} {sentence}"),
    _task("rte", "{sentence1} {sentence2}"),
    _task("boolq", "{question} {passage}"),
    _task("multirc", "{paragraph} Question: {question} Answer: {answer}"),
    _task("wsc", '{text} Does "{span2_text}" refer to "{span1_text}"?'),
)}
TRAINED = [name for name, t in TASKS.items() if t.part_of is None]  # the tasks a fine-tuning run trains on

# The paper's Table 4 (BabyLlama-2): fine-tuning hyperparameters per task; seed 12 for all runs, no early stopping.
# Its "MNLI(-mm)" row is one setting: the MNLI run, which also scores MNLI-mm.
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
    """The tasks to train (registry order, not mnli-mm) that have both a train and a validation file in glue_dir."""
    return [name for name in TRAINED if all(TASKS[name].path(glue_dir, s).is_file() for s in SPLIT_SUFFIX)]


def also_scored(glue_dir, task: str) -> list[Task]:
    """The tasks a run of `task` also scores that have their validation file in glue_dir (mnli: mnli-mm)."""
    return [TASKS[name] for name in get_task(task).also_scores
            if TASKS[name].path(glue_dir, "validation").is_file()]


def parse_record(task: Task, record, where: str) -> tuple[list[str], int]:
    """One JSON record -> (the values of its template's fields, in the template's order; label); GlueError naming
    `where` (file:line)."""
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
    """The examples of one split as (field values, label), in file order; at most `limit` of them."""
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


def template_pieces(task, values) -> list[tuple[str, int | None]]:
    """The utterance's text in pieces (text, field index or None for the template's own words), in order. A field's
    piece takes the space before it when the template has one there (" " + question after " Question:"), so that
    every piece but the first starts where a byte-level BPE starts a word. "".join(texts) == task.render(values)."""
    task = get_task(task) if isinstance(task, str) else task
    pieces, index = [], 0
    for literal, name, _, _ in Formatter().parse(task.template):
        lead = " " if name is not None and literal.endswith(" ") else ""
        if literal[:len(literal) - len(lead)]:
            pieces.append((literal[:len(literal) - len(lead)], None))
        if name is not None:
            pieces.append((lead + values[index], index))
            index += 1
    return pieces


def encode(task, values, tokenizer, max_length: int) -> list[int]:
    """<s> + the task's template over `values` + </s>: token ids, at most max_length. When too long, the longest field
    is cut first (from its end, down to the next longest at most, until it fits); the template's words and the
    special tokens are never cut."""
    task = get_task(task) if isinstance(task, str) else task
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    if bos is None or eos is None:
        raise GlueError(f"task {task.name}: the tokenizer needs both a BOS and an EOS token (<s> utterance </s>)")
    pieces = template_pieces(task, values)
    # split_special_tokens: a record's literal "</s>" is text, not the classifier's token
    ids = [list(i) for i in tokenizer([text for text, _ in pieces], add_special_tokens=False,
                                      split_special_tokens=True)["input_ids"]]
    fields = [k for k, (_, field) in enumerate(pieces) if field is not None]
    fixed = sum(len(ids[k]) for k, (_, field) in enumerate(pieces) if field is None) + 2
    budget = max_length - fixed
    if budget < len(fields):
        raise GlueError(f"max_length: {max_length} is too short for task {task.name}: its template and special "
                        f"tokens take {fixed}, and each of its {len(fields)} field(s) needs one more")
    excess = sum(len(ids[k]) for k in fields) - budget
    while excess > 0:  # cut the longest field, down to the next longest at most, until it fits
        order = sorted(fields, key=lambda k: -len(ids[k]))
        k = order[0]
        second = len(ids[order[1]]) if len(order) > 1 else 0
        cut = min(excess, max(1, len(ids[k]) - second))
        ids[k] = ids[k][:len(ids[k]) - cut]
        excess -= cut
    return [bos] + [i for piece in ids for i in piece] + [eos]


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
