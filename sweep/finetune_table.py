"""finetune-all's table and what it says about itself: the rows a task run adds, the aggregate row (named with its
tasks and their number), the tasks a run leaves out and why, and the warm-up rule for short runs.

The aggregate is the table's last row, task `macro average` (the name readers key on, analysis/compare_inputs.py),
its `metric` saying what it averages ("mean of 5: mnli, mrpc, qqp, rte, wsc"), `n_tasks` and `tasks` the same as
data. The paper's SuperGLUE score (BabyLlama-2, Table 5) is the mean over PAPER_SUPERGLUE: a table over fewer
tasks says which it lacks, for a mean over other tasks is not the paper's number.
"""
from __future__ import annotations

import math
from pathlib import Path

from trainables import glue

MACRO_AVERAGE = "macro average"  # the task name of the table's last row
# Table 5's rows, in its order: the tasks the paper's SuperGLUE mean is over
PAPER_SUPERGLUE = ("cola", "sst2", "mrpc", "qqp", "mnli", "mnli-mm", "qnli", "rte", "boolq", "multirc", "wsc")
# A warm-up longer than this fraction of a run's optimizer steps is scaled down to SCALED_WARMUP of them: Table 4's
# warm-ups (200-600 steps) are a few percent of a full run, but cover all of a run cut by --max-train-examples
# (500 warm-up steps in a 4-step run: the learning rate never leaves 1e-8, every score is a constant baseline).
# Full runs on the BabyLM files stay below it (BoolQ's 200 steps are 17% of its 1,178), so Table 4 is kept there.
MAX_WARMUP_FRACTION = 0.5
SCALED_WARMUP = 0.1


def kept_report(results: list[dict], keep: str) -> dict:
    """The report of the epoch a run keeps: its best (by the last report's best_epoch) or its last."""
    final = results[-1]
    if keep == "best" and final.get("best_epoch") is not None:
        return next(r for r in results if r["epoch"] == final["best_epoch"])
    return final


def merge_rows(old: list[dict], new: list[dict], run: str) -> list[dict]:
    """The rows of a table after a run of `run`: its old rows (those trained_as it; a table written before
    trained_as was recorded: those of its task) replaced by `new`, where the first of them stood; every other
    row kept, in order; a task not in the table before comes last."""
    def of_run(row) -> bool:
        trained_as = row.get("trained_as")
        if not isinstance(trained_as, str) or not trained_as:
            trained_as = row.get("task")
        return trained_as == run

    out, placed = [], False
    for row in old:
        if of_run(row):
            if not placed:
                out += new
                placed = True
        else:
            out.append(row)
    return out if placed else out + new


def average_name(tasks) -> str:
    return f"mean of {len(tasks)}: {', '.join(tasks)}"


def with_average(rows: list[dict]):
    """The table of `rows` with the mean of their scores as its last row, named with the tasks it averages."""
    import pandas as pd

    table = pd.DataFrame(rows)
    tasks = [str(t) for t in table["task"]] if len(table) else []
    average = {"task": MACRO_AVERAGE, "metric": average_name(tasks),
               "score": table["score"].mean() if len(table) else math.nan,
               "n_tasks": len(tasks), "tasks": " ".join(tasks)}
    return pd.concat([table, pd.DataFrame([average])], ignore_index=True)


def missing_from_paper(tasks) -> list[str]:
    """The paper's SuperGLUE tasks a table of `tasks` lacks, in Table 5's order."""
    return [t for t in PAPER_SUPERGLUE if t not in set(tasks)]


def skipped_tasks(glue_dir, run: list[str], asked=None) -> dict:
    """{task: why} for each task a run of `run` in `glue_dir` leaves out: of the paper's set when no tasks were
    `asked` for (no train file, no validation file), and in any case a task scored by a run of `run` whose
    validation file is absent (mnli-mm beside an mnli run)."""
    glue_dir = Path(glue_dir)
    names = list(PAPER_SUPERGLUE) if not asked else list(asked)
    names += [t for name in run for t in glue.get_task(name).also_scores if t not in names]
    out = {}
    for name in names:
        task = glue.get_task(name)
        if name in run:
            continue
        if task.part_of:
            valid = task.path(glue_dir, "validation")
            if task.part_of in run and not valid.is_file():
                out[name] = f"no mismatched validation file ({valid.name}) for the {task.part_of} run to score"
            elif task.part_of not in run:
                out[name] = f"scored by the {task.part_of} run, which is left out"
            continue
        lacking = [f"no {split} file ({task.path(glue_dir, split).name})" for split in glue.SPLIT_SUFFIX
                   if not task.path(glue_dir, split).is_file()]
        if lacking:
            out[name] = " and ".join(lacking)
    return out


def count_examples(path: Path, limit=None) -> int:
    """Examples (non-empty lines) in a split file, at most `limit`."""
    n = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                n += 1
                if limit is not None and n >= limit:
                    break
    return n


def warmup_rule(task: str, config: dict, glue_dir) -> str | None:
    """Scale `config`'s warm-up (in place) when it is over MAX_WARMUP_FRACTION of the run's optimizer steps, to
    SCALED_WARMUP of them; returns the one line that says so (None when the warm-up is kept)."""
    warmup = int(config.get("num_warmup_steps") or 0)
    if warmup <= 0:
        return None
    n = count_examples(glue.get_task(task).path(glue_dir, "train"), config.get("max_train_examples"))
    steps = math.ceil(n / int(config.get("batch_size", 1))) * float(config.get("num_epochs", 1))
    if steps <= 0 or warmup <= MAX_WARMUP_FRACTION * steps:
        return None
    scaled = max(1, round(SCALED_WARMUP * steps))
    config["num_warmup_steps"] = scaled
    return (f"{task}: num_warmup_steps {warmup} is {warmup / steps:.0%} of this run's {steps:g} optimizer steps "
            f"(over {MAX_WARMUP_FRACTION:.0%}): scaled to {scaled} ({SCALED_WARMUP:.0%}), so that the learning rate "
            f"reaches its peak")


def majority_baseline(task: str, glue_dir, max_train_examples=None, max_eval_examples=None) -> float:
    """The task's score (in %) of always predicting its train split's most common label, on the validation
    examples a run scores: the floor a fine-tuned model must clear (MRPC and QQP F1 0 when that label is 0)."""
    from collections import Counter

    t = glue.get_task(task)
    train = glue.read_split(glue_dir, t.part_of or task, "train", max_train_examples)
    label = Counter(y for _, y in train).most_common(1)[0][0]
    valid = [y for _, y in glue.read_split(glue_dir, task, "validation", max_eval_examples)]
    return 100 * glue.score(task, valid, [label] * len(valid))


def format_table(table, skipped=None, subset=None) -> str:
    """The table as finetune-all prints it: a row a task, the aggregate named with its tasks, what was left out."""
    lines = [f"{'task':<14} {'metric':<9} {'score':>6} {'epoch':>9} {'majority':>9}"]
    rows = table.to_dict("records")
    for row in rows:
        if row["task"] == MACRO_AVERAGE:
            continue
        epoch = row.get("epoch")
        where = f"{epoch:g}/{row['epochs']:g}" if isinstance(epoch, (int, float)) and epoch == epoch else ""
        majority = row.get("majority")
        floor = f"{majority:.1f}" if isinstance(majority, (int, float)) and majority == majority else ""
        lines.append(f"{row['task']:<14} {row['metric'] or '':<9} {row['score']:>6.1f} {where:>9} {floor:>9}")
    tasks = [str(r["task"]) for r in rows if r["task"] != MACRO_AVERAGE]
    average = next((r for r in rows if r["task"] == MACRO_AVERAGE), None)
    if average is not None:
        lines.append(f"{'mean':<14} {'':<9} {average['score']:>6.1f}   ({average_name(tasks)})")
    lacking = missing_from_paper(tasks)
    if lacking:
        lines.append(f"not the paper's SuperGLUE mean: it is over the {len(PAPER_SUPERGLUE)} tasks of its Table 5; "
                     f"this table lacks {', '.join(lacking)}")
    for name, why in (skipped or {}).items():
        lines.append(f"skipped {name}: {why}")
    if subset:
        lines.append(subset)
    return "\n".join(lines)
