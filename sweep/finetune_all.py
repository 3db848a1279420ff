"""Fine-tune one pretrained checkpoint on every (Super)GLUE task with fixed hyperparameters: the paper's Table 5.

    babysweep finetune-all --checkpoint DIR [--glue DIR] [--hparams FILE] [--out DIR] [--tasks rte wsc ...]
                           [--max-train-examples N] [--max-eval-examples N] [--epochs-scale X]

Hyperparameters are the paper's Table 4 (trainables.glue.TABLE4, seed 12) unless `hparams` overrides them: a YAML
or JSON file mapping a task name (or `all`, for every task) to {name: value} of trainables.finetune's arguments.
Every task present in the GLUE folder with both a train and a validation file is run (or those of `tasks`, which
must all be present). The table (task, metric, score in %, plus val_loss, epochs, examples, seconds) and its
macro average are written to <out>/finetune_all.csv; the per-epoch reports go to <out>/history.csv.
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
        for name in values:
            if name not in ACCEPTED or name in ("checkpoint", "glue_dir", "task"):
                raise ConfigError(f"--hparams {path}: {task}: {name!r} is not a fine-tuning hyperparameter")
    return doc


def task_config(task, checkpoint, glue_dir, overrides, max_train_examples, max_eval_examples, epochs_scale):
    config = dict(glue.TABLE4.get(task, {}), seed=glue.SEED)
    config.update(overrides.get("all", {}))
    config.update(overrides.get(task, {}))
    if epochs_scale is not None:
        config["num_epochs"] = float(config.get("num_epochs", 1)) * float(epochs_scale)
    config.update(checkpoint=str(checkpoint), glue_dir=str(glue_dir), task=task)
    if max_train_examples is not None:
        config["max_train_examples"] = int(max_train_examples)
    if max_eval_examples is not None:
        config["max_eval_examples"] = int(max_eval_examples)
    return config


def finetune_all(checkpoint, glue_dir, out_dir, hparams=None, tasks=None, max_train_examples=None,
                 max_eval_examples=None, epochs_scale=None, num_threads=None, log=print):
    """Fine-tune `checkpoint` on each task; returns the results table (pandas DataFrame, last row: macro average)
    and writes it to <out_dir>/finetune_all.csv. `hparams`: a file path or an already-read dict."""
    import pandas as pd

    from trainables.finetune import finetune, load_pretrained
    from trainables.reporting import run_local

    checkpoint, glue_dir, out_dir = Path(checkpoint), Path(glue_dir), Path(out_dir)
    load_pretrained(checkpoint, 2)  # refuses a bad checkpoint before any task runs
    if not glue_dir.is_dir():
        raise ConfigError(f"--glue {glue_dir}: GLUE folder not found")
    overrides = hparams if isinstance(hparams, dict) or hparams is None else read_hparams(hparams)
    overrides = overrides or {}
    if tasks:
        for t in tasks:
            glue.check_task(glue_dir, t)
    else:
        tasks = glue.available_tasks(glue_dir)
        if not tasks:
            raise ConfigError(f"--glue {glue_dir}: no task has both a train and a validation file "
                              f"(<task>.train.jsonl, <task>.valid.jsonl)")
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, history = [], []
    for task in tasks:
        config = task_config(task, checkpoint, glue_dir, overrides, max_train_examples, max_eval_examples,
                             epochs_scale)
        if num_threads:
            config["num_threads"] = num_threads
        log(f"{task}: " + ", ".join(f"{k}={v}" for k, v in sorted(config.items())
                                    if k not in ("checkpoint", "glue_dir", "task")))
        ckpt_root = out_dir / "checkpoints" / task
        shutil.rmtree(ckpt_root, ignore_errors=True)
        run = run_local(finetune, config, ckpt_root, keep_last=1)
        final = run.results[-1]
        history += [{k: r[k] for k in ("task", "epoch", "score", "val_loss", "train_loss", "wall_s")}
                    for r in run.results]
        rows.append({"task": task, "metric": final["metric"], "score": 100 * final["score"],
                     "val_loss": final["val_loss"], "epochs": final["epoch"], "n_train": final["n_train"],
                     "n_valid": final["n_valid"], "wall_s": final["wall_s"],
                     "model": str(run.checkpoints[-1] / "hf") if run.checkpoints else ""})
        log(f"{task}: {final['metric']} {100 * final['score']:.1f}  (val_loss {final['val_loss']:.4f}, "
            f"{final['wall_s']:.0f} s)")
    table = pd.DataFrame(rows)
    average = {"task": "macro average", "metric": "", "score": table["score"].mean()}
    table = pd.concat([table, pd.DataFrame([average])], ignore_index=True)
    write_csv(out_dir / TABLE, table)
    write_csv(out_dir / HISTORY, pd.DataFrame(history))
    write_json(out_dir / "finetune_all.json",
               {"checkpoint": str(checkpoint), "glue_dir": str(glue_dir), "tasks": list(tasks), "overrides": overrides,
                "max_train_examples": max_train_examples, "max_eval_examples": max_eval_examples,
                "epochs_scale": epochs_scale})
    return table


def format_table(table) -> str:
    lines = [f"{'task':<14} {'metric':<9} {'score':>6}"]
    for row in table.to_dict("records"):
        lines.append(f"{row['task']:<14} {row['metric'] or '':<9} {row['score']:>6.1f}")
    return "\n".join(lines)


def default_glue() -> Path:
    for candidate in (Path(DEFAULT_GLUE), Path(__file__).resolve().parents[2] / "shared" / "data" / DEFAULT_GLUE):
        if candidate.is_dir():
            return candidate
    raise ConfigError(f"--glue: no {DEFAULT_GLUE}/ folder here; give the GLUE folder with --glue DIR")
