"""Fine-tune one pretrained checkpoint on every (Super)GLUE task with fixed hyperparameters: the paper's Table 5.

    babysweep finetune-all --checkpoint DIR [--glue DIR] [--hparams FILE] [--out DIR] [--tasks rte wsc ...]
                           [--keep best|last] [--max-train-examples N] [--max-eval-examples N] [--epochs-scale X]

Hyperparameters are the paper's Table 4 (trainables.glue.TABLE4, seed 12) unless `hparams` overrides them: a YAML
or JSON file mapping a task name (or `all`, for every task) to {name: value} of trainables.finetune's arguments.
Every task present in the GLUE folder with both a train and a validation file is run (or those of `tasks`, which
must all be present). Each task's row is the epoch its run keeps (`keep`, default best: the best epoch by the
task's metric, the earlier on a tie; last: the last epoch), whose model the row names. The table (task, metric,
score in %, epoch (the kept one), val_loss there, epochs trained, examples, seconds, model) and its macro average are
written to <out>/finetune_all.csv; the per-epoch reports go to <out>/history.csv.

MNLI-mm is never trained: the mnli run scores its model on the mismatched validation file too (when the GLUE folder
has `mnli-mm.valid.jsonl`), and the table's mnli-mm row is that run's, at the epoch it keeps (chosen by the matched
score). `--tasks mnli-mm` without mnli is a ConfigError saying to ask for mnli.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from trainables import glue
from trainables.errors import ConfigError
from trainables.files import write_csv, write_json

TABLE, HISTORY = "finetune_all.csv", "history.csv"
DEFAULT_GLUE = "glue_filtered"


def read_hparams(path) -> dict:
    """{task or 'all': {name: value}} from a YAML/JSON file; ConfigError naming the file and the bad entry."""
    from trainables.finetune import ACCEPTED

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--hparams {path}: file not found")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"--hparams {path}: not valid YAML/JSON ({' '.join(str(e).split())})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"--hparams {path}: must map task names to {{name: value}}")
    for task, values in doc.items():
        if task != "all":
            try:
                glue.get_task(task)
            except glue.GlueError as e:
                raise ConfigError(f"--hparams {path}: {e}") from None
        if not isinstance(values, dict):
            raise ConfigError(f"--hparams {path}: {task}: must be a mapping of name: value (got {values!r})")
        if task != "all" and glue.get_task(task).part_of:
            raise ConfigError(f"--hparams {path}: {task}: not trained on its own; set {glue.get_task(task).part_of}'s "
                              f"values, whose run also scores {task}")
        for name in values:
            if name not in ACCEPTED or name in ("checkpoint", "glue_dir", "task", "keep"):
                hint = " (use --keep)" if name == "keep" else ""
                raise ConfigError(f"--hparams {path}: {task}: {name!r} is not a fine-tuning hyperparameter{hint}")
    return doc


def task_config(task, checkpoint, glue_dir, overrides, max_train_examples, max_eval_examples, epochs_scale,
                keep="best"):
    config = dict(glue.TABLE4.get(task, {}), seed=glue.SEED)
    config.update(overrides.get("all", {}))
    config.update(overrides.get(task, {}))
    if epochs_scale is not None:
        config["num_epochs"] = float(config.get("num_epochs", 1)) * float(epochs_scale)
    config.update(checkpoint=str(checkpoint), glue_dir=str(glue_dir), task=task, keep=keep)
    if max_train_examples is not None:
        config["max_train_examples"] = int(max_train_examples)
    if max_eval_examples is not None:
        config["max_eval_examples"] = int(max_eval_examples)
    return config


def check_keep(keep: str) -> None:
    from trainables.finetune import KEEP

    if keep not in KEEP:
        raise ConfigError(f"--keep {keep}: must be one of {', '.join(KEEP)}")


def tasks_to_run(glue_dir: Path, tasks) -> list[str]:
    """The tasks to train, in the order given (default: every task the folder holds). A task scored by another's
    run (mnli-mm) is asked for with that task and never run itself; alone, it is a ConfigError."""
    if not tasks:
        found = glue.available_tasks(glue_dir)
        if not found:
            raise ConfigError(f"--glue {glue_dir}: no task has both a train and a validation file "
                              f"(<task>.train.jsonl, <task>.valid.jsonl)")
        return found
    run = []
    for name in tasks:
        task = glue.get_task(name)
        if task.part_of:
            if task.part_of not in tasks:
                raise ConfigError(f"--tasks {name}: {name} has no fine-tuning of its own; ask for {task.part_of}, "
                                  f"whose run also gives the {name} row")
            path = task.path(glue_dir, "validation")
            if not path.is_file():
                raise glue.GlueError(f"task {name}: no validation file ({path.name} is missing in {glue_dir}); the "
                                     f"{task.part_of} run scores it when it is there")
        else:
            glue.check_task(glue_dir, name)
            if name not in run:
                run.append(name)
    return run


def kept_report(results: list[dict], keep: str) -> dict:
    """The report of the epoch a run keeps: its best (by the last report's best_epoch) or its last."""
    final = results[-1]
    if keep == "best" and final.get("best_epoch") is not None:
        return next(r for r in results if r["epoch"] == final["best_epoch"])
    return final


def finetune_all(checkpoint, glue_dir, out_dir, hparams=None, tasks=None, max_train_examples=None,
                 max_eval_examples=None, epochs_scale=None, num_threads=None, keep="best", log=print):
    """Fine-tune `checkpoint` on each task; returns the results table (pandas DataFrame, last row: macro average)
    and writes it to <out_dir>/finetune_all.csv. `hparams`: a file path or an already-read dict."""
    import pandas as pd

    from trainables.finetune import finetune, load_pretrained
    from trainables.reporting import run_local

    check_keep(keep)
    checkpoint, glue_dir, out_dir = Path(checkpoint), Path(glue_dir), Path(out_dir)
    load_pretrained(checkpoint, 2)  # refuses a bad checkpoint before any task runs
    if not glue_dir.is_dir():
        raise ConfigError(f"--glue {glue_dir}: GLUE folder not found")
    overrides = hparams if isinstance(hparams, dict) or hparams is None else read_hparams(hparams)
    overrides = overrides or {}
    runs = tasks_to_run(glue_dir, tasks)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, history = [], []
    for task in runs:
        config = task_config(task, checkpoint, glue_dir, overrides, max_train_examples, max_eval_examples,
                             epochs_scale, keep)
        if num_threads:
            config["num_threads"] = num_threads
        log(f"{task}: " + ", ".join(f"{k}={v}" for k, v in sorted(config.items())
                                    if k not in ("checkpoint", "glue_dir", "task")))
        ckpt_root = out_dir / "checkpoints" / task
        shutil.rmtree(ckpt_root, ignore_errors=True)
        run = run_local(finetune, config, ckpt_root, keep_last=1)
        final, kept = run.results[-1], kept_report(run.results, keep)
        also = [t for t in glue.get_task(task).also_scores if f"{glue.get_task(t).key}_val_loss" in final]
        columns = ("task", "epoch", "score", "val_loss", "train_loss", "wall_s",
                   *(f"{glue.get_task(t).key}_{k}" for t in also for k in (glue.get_task(t).metric, "val_loss")))
        history += [{k: r.get(k) for k in columns} for r in run.results]
        model = str(run.checkpoints[-1] / "hf") if run.checkpoints else ""
        common = {"epoch": kept["epoch"], "epochs": final["epoch"], "n_train": final["n_train"],
                  "wall_s": final["wall_s"], "model": model, "trained_as": task}
        rows.append({"task": task, "metric": kept["metric"], "score": 100 * kept["score"],
                     "val_loss": kept["val_loss"], "n_valid": kept["n_valid"], **common})
        log(f"{task}: {kept['metric']} {100 * kept['score']:.1f} at epoch {kept['epoch']:g} of {final['epoch']:g} "
            f"(keep {keep}; val_loss {kept['val_loss']:.4f}, {final['wall_s']:.0f} s)")
        for name in also:  # mnli-mm: the same run, at the same kept epoch
            t = glue.get_task(name)
            rows.append({"task": name, "metric": t.metric, "score": 100 * kept[f"{t.key}_{t.metric}"],
                         "val_loss": kept[f"{t.key}_val_loss"], "n_valid": kept[f"{t.key}_n_valid"], **common})
            log(f"{name}: {t.metric} {100 * kept[f'{t.key}_{t.metric}']:.1f} (the {task} run's model)")
    table = pd.DataFrame(rows)
    average = {"task": "macro average", "metric": "", "score": table["score"].mean()}
    table = pd.concat([table, pd.DataFrame([average])], ignore_index=True)
    write_csv(out_dir / TABLE, table)
    write_csv(out_dir / HISTORY, pd.DataFrame(history))
    write_json(out_dir / "finetune_all.json",
               {"checkpoint": str(checkpoint), "glue_dir": str(glue_dir), "tasks": list(runs), "overrides": overrides,
                "max_train_examples": max_train_examples, "max_eval_examples": max_eval_examples,
                "epochs_scale": epochs_scale, "keep": keep})
    return table


def format_table(table) -> str:
    lines = [f"{'task':<14} {'metric':<9} {'score':>6} {'epoch':>9}"]
    for row in table.to_dict("records"):
        epoch = row.get("epoch")
        where = f"{epoch:g}/{row['epochs']:g}" if isinstance(epoch, (int, float)) and epoch == epoch else ""
        lines.append(f"{row['task']:<14} {row['metric'] or '':<9} {row['score']:>6.1f} {where:>9}")
    return "\n".join(lines)


def default_glue() -> Path:
    for candidate in (Path(DEFAULT_GLUE), Path(__file__).resolve().parents[2] / "shared" / "data" / DEFAULT_GLUE):
        if candidate.is_dir():
            return candidate
    raise ConfigError(f"--glue: no {DEFAULT_GLUE}/ folder here; give the GLUE folder with --glue DIR")
