"""Fine-tune one pretrained checkpoint on every (Super)GLUE task: the paper's Table 5.

    babysweep finetune-all --checkpoint DIR [--glue DIR] [--hparams FILE] [--out DIR] [--tasks rte wsc ...]
                           [--from-sweeps DIR] [--sweep TASK=FOLDER] [--transfer]
                           [--keep best|last] [--max-train-examples N] [--max-eval-examples N] [--epochs-scale X]

Hyperparameters are the paper's Table 4 (trainables.glue.TABLE4, seed 12), or each task's own sweep's best
configuration (--from-sweeps, --sweep: sweep/finetune_sources.py), under `hparams`: a YAML or JSON file mapping a
task name (or `all`, for every task) to {name: value} of trainables.finetune's arguments. Every task present in the
GLUE folder with both a train and a validation file is run (or those of `tasks`, which must all be present); every
task of the paper's set it cannot run is listed with the reason (no train file, no mismatched validation file:
sweep/finetune_table.py). Each task's row is the epoch its run keeps (`keep`, default best: the best epoch by the
task's metric, the earlier on a tie; last: the last epoch), whose model the row names: <out>/checkpoints/<task>/
model_epoch_<E>, named after the epoch it holds. A row says where its configuration came from (`hparams_from`:
"Table 4", or the sweep and trial, "+ --hparams" when the file changed it). The table (task, metric, score in %,
`majority`: the score of always predicting the train split's most common label, the floor a model must clear,
epoch (the kept one), val_loss there, epochs trained, examples, seconds, model) ends with the mean of its scores,
named with its tasks and their number (the paper's mean is over the 11 tasks of its Table 5; a table over fewer
says which it lacks), in <out>/finetune_all.csv; the per-epoch reports go to <out>/history.csv.

A warm-up longer than half a run's optimizer steps is scaled to a tenth of them, with one line saying so (Table
4's 500-step warm-ups in a --max-train-examples run of a few steps would keep the learning rate at ~0). A
--max-train-examples run says, in its output, its record and each row's `subset`, that it is not comparable with
full fine-tuning.

MNLI-mm is never trained: the mnli run scores its model on the mismatched validation file too (when the GLUE folder
has `mnli-mm.valid.jsonl`), and the table's mnli-mm row is that run's, at the epoch it keeps (chosen by the matched
score). `--tasks mnli-mm` without mnli is a ConfigError saying to ask for mnli.

The output folder is finetune-all's own:

    <out>/finetune_all.json   its record, written first (the marker of a finetune-all folder): the checkpoint,
                              the latest run's settings, and `runs`, each task's settings when its row was made
    <out>/finetune_all.csv    one row per task (and mnli-mm), then the macro average
    <out>/history.csv         every epoch's report of every task's run
    <out>/checkpoints/<task>/ each task's kept model, model_epoch_<E>/ (its checkpoints are removed: never resumed)

Every argument is checked (the options, the hyperparameters of each task's run, the GLUE folder, --out, the
checkpoint) before --out is made or anything written into it. --out is refused (ConfigError, one line, nothing
written) when it is an experiment folder (it holds sweep.json), holds anything that is not finetune-all's own, or
is a finetune-all folder of another checkpoint. Run again into the same folder, finetune-all adds: each task run
replaces its own rows (a run's rows are those `trained_as` it) and history lines, every other task's are kept, and
the macro average is over all. Each task's rows are saved as soon as its run ends, under a lock of the folder,
merged into the table as it is then.
"""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import yaml

from trainables import glue
from trainables.errors import ConfigError
from trainables.files import check_folder_path, locked, write_csv, write_json

TABLE, HISTORY, RECORD = "finetune_all.csv", "history.csv", "finetune_all.json"
CHECKPOINTS, LOCK = "checkpoints", ".finetune_all.lock"
OWN = (RECORD, TABLE, HISTORY, CHECKPOINTS, LOCK)  # what a finetune-all folder holds
from trainables.names import EXPERIMENT_RECORD  # noqa: E402  (constants only: --help stays fast)

from .finetune_table import (  # noqa: E402,F401  (merge_rows, format_table: also imported from here)
    MACRO_AVERAGE, format_table, kept_report, majority_baseline, merge_rows, skipped_tasks, warmup_rule, with_average)
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
                keep="best", base=None):
    """One task run's arguments: `base` (a sweep's best configuration; default Table 4 with its seed), under the
    --hparams overrides (`all`, then the task's), the epoch scale and the run's own settings."""
    config = dict(base) if base is not None else dict(glue.TABLE4.get(task, {}), seed=glue.SEED)
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


def subset_note(max_train_examples) -> str | None:
    if max_train_examples is None:
        return None
    return (f"quick run: the first {max_train_examples} train examples of each task; not comparable with full "
            f"fine-tuning (the paper's Table 5 trains on every example)")


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


def check_options(epochs_scale=None, max_train_examples=None, max_eval_examples=None, num_threads=None) -> None:
    """ConfigError (one line naming the option) for a value no run could use."""
    if epochs_scale is not None and (isinstance(epochs_scale, bool) or not isinstance(epochs_scale, (int, float))
                                     or not math.isfinite(epochs_scale) or epochs_scale <= 0):
        raise ConfigError(f"--epochs-scale {epochs_scale}: must be a number > 0 (it multiplies every task's epochs)")
    for option, value in (("--max-train-examples", max_train_examples), ("--max-eval-examples", max_eval_examples),
                          ("--num-threads", num_threads)):
        if value is not None and (isinstance(value, bool) or int(value) != value or value < 1):
            raise ConfigError(f"{option} {value}: must be a whole number >= 1")


def is_own(name: str) -> bool:
    """A name finetune-all writes into its folder: OWN, or the temporary file of one of them (trainables.files)."""
    return name in OWN or (name.startswith(".") and name.endswith(".tmp")
                           and any(name.startswith(f".{own}.") for own in (RECORD, TABLE, HISTORY)))


def check_out(out_dir: Path, checkpoint: Path) -> dict:
    """The record of the finetune-all folder `out_dir` (empty for a new or empty folder); ConfigError (one line,
    nothing written) when it is an experiment folder, holds anything finetune-all did not write, is a finetune-all
    folder of another checkpoint, or its table, history or record cannot be read (sweep/table.py)."""
    from .table import FINETUNE_HISTORY_SCHEMA, FINETUNE_SCHEMA, read_table

    out = check_folder_path(out_dir, "--out")
    if not out.is_dir() or not any(out.iterdir()):
        return {}
    if (out / EXPERIMENT_RECORD).exists():
        raise ConfigError(f"--out {out}: is an experiment folder (it holds {EXPERIMENT_RECORD}); finetune-all writes "
                          f"its table, history and checkpoints into a folder of its own, e.g. "
                          f"--out {out / 'finetune' / '<trial_id>'}")
    foreign = sorted(p.name for p in out.iterdir() if not is_own(p.name))
    if foreign or not (out / RECORD).is_file():
        what = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "") if foreign else f"no {RECORD}"
        raise ConfigError(f"--out {out}: is not a finetune-all folder ({what}); give a new or empty folder, or one "
                          f"an earlier finetune-all wrote (to add tasks to its table)")
    try:
        record = json.loads((out / RECORD).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ConfigError(f"--out {out}: its {RECORD} is not readable JSON ({' '.join(str(e).split())})") from None
    if not isinstance(record, dict):
        raise ConfigError(f"--out {out}: its {RECORD} is not a JSON object")
    earlier = record.get("checkpoint")
    if not isinstance(earlier, str) or Path(earlier).expanduser().resolve() != checkpoint.resolve():
        raise ConfigError(f"--out {out}: holds the fine-tuning of another checkpoint ({earlier}), and this run "
                          f"fine-tunes {checkpoint}: give another --out, so each table is one model's")
    for name, schema in ((TABLE, FINETUNE_SCHEMA), (HISTORY, FINETUNE_HISTORY_SCHEMA)):
        if (out / name).exists():
            read_table(out / name, schema)  # a damaged table is refused before any task runs
    return record


def save_run(out_dir, run: str, rows: list[dict], history: list[dict], settings: dict, record: dict):
    """Merge one task run's rows and history lines into the folder's table and history as they are now (another
    finetune-all may have added tasks since), under the folder's lock, each file written atomically; `record`
    (finetune_all.json's top level) is written with this run's settings in its `runs`. Returns the table."""
    import pandas as pd

    from .table import FINETUNE_HISTORY_SCHEMA, FINETUNE_SCHEMA, read_table

    out = Path(out_dir)
    with locked(out / LOCK, what=f"--out {out}"):
        old = read_table(out / TABLE, FINETUNE_SCHEMA) if (out / TABLE).exists() else pd.DataFrame()
        old_rows = [r for r in old.to_dict("records") if r.get("task") != MACRO_AVERAGE] if len(old) else []
        table = with_average(merge_rows(old_rows, rows, run))
        lines = read_table(out / HISTORY, FINETUNE_HISTORY_SCHEMA) if (out / HISTORY).exists() else pd.DataFrame()
        kept = lines[lines["task"].astype(str) != run] if len(lines) else lines
        write_csv(out / TABLE, table)
        write_csv(out / HISTORY, pd.concat([kept, pd.DataFrame(history)], ignore_index=True))
        earlier = read_record(out)
        runs = {**(earlier.get("runs") or {}), run: settings}
        write_json(out / RECORD, {**record, "runs": runs}, default=str)
    return table


def read_record(out: Path) -> dict:
    try:
        record = json.loads((out / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def finetune_all(checkpoint, glue_dir, out_dir, hparams=None, tasks=None, max_train_examples=None,
                 max_eval_examples=None, epochs_scale=None, num_threads=None, keep="best", from_sweeps=None,
                 sweeps=None, transfer=False, log=print):
    """Fine-tune `checkpoint` on each task; returns the results table (pandas DataFrame, last row: the mean, named
    with its tasks) of the folder (this run's tasks and those of earlier runs into it) and writes it to
    <out_dir>/finetune_all.csv; table.attrs["skipped"] ({task: why}) and table.attrs["subset"] (None, or what a
    --max-train-examples run is not comparable with) say what the run left out. `hparams`: a file path or an
    already-read dict; `from_sweeps` (a storage folder) and `sweeps` ({task: sweep folder}): take each task's
    configuration from its sweep (sweep/finetune_sources.py). Every argument is checked before `out_dir` is made."""
    from trainables.finetune import finetune, load_pretrained, resolve_config
    from trainables.reporting import run_local

    from .finetune_sources import TABLE4, choices_from_sweeps

    check_keep(keep)
    check_options(epochs_scale, max_train_examples, max_eval_examples, num_threads)
    checkpoint, glue_dir, out_dir = Path(checkpoint), Path(glue_dir), Path(out_dir)
    if not glue_dir.is_dir():
        raise ConfigError(f"--glue {glue_dir}: GLUE folder not found")
    overrides = hparams if isinstance(hparams, dict) or hparams is None else read_hparams(hparams)
    overrides = overrides or {}
    runs = tasks_to_run(glue_dir, tasks)
    skipped = skipped_tasks(glue_dir, runs, tasks)
    choices = choices_from_sweeps(runs, checkpoint, from_sweeps, sweeps, transfer) if (from_sweeps or sweeps) else {}
    configs, sources, notes = {}, {}, {}
    for task in runs:
        choice = choices.get(task)
        config = task_config(task, checkpoint, glue_dir, overrides, max_train_examples, max_eval_examples,
                             epochs_scale, keep, base=choice.config if choice else None)
        if num_threads:
            config["num_threads"] = num_threads
        sources[task] = (choice.describe() if choice else TABLE4) + \
            (" + --hparams" if overrides.get("all") or overrides.get(task) else "")
        try:
            resolve_config(config)  # the run's own checks (num_epochs > 0, ...), before anything is written
            notes[task] = warmup_rule(task, config, glue_dir)
        except ConfigError as e:
            raise ConfigError(f"task {task}: {e}") from None
        configs[task] = config
    earlier = check_out(out_dir, checkpoint)
    load_pretrained(checkpoint, 2)  # refuses a bad checkpoint before any task runs
    subset = subset_note(max_train_examples)
    record = {"checkpoint": str(checkpoint.resolve()), "glue_dir": str(glue_dir), "tasks": list(runs),
              "overrides": overrides, "max_train_examples": max_train_examples,
              "max_eval_examples": max_eval_examples, "epochs_scale": epochs_scale, "keep": keep,
              "comparable_with_full_runs": subset is None, "skipped": skipped}
    out_dir.mkdir(parents=True, exist_ok=True)
    with locked(out_dir / LOCK, what=f"--out {out_dir}"):  # another finetune-all may be saving a task's run
        runs_so_far = read_record(out_dir).get("runs") or earlier.get("runs") or {}
        write_json(out_dir / RECORD, {**record, "runs": runs_so_far}, default=str)  # the marker, first
    for name, why in skipped.items():
        log(f"skipped {name}: {why}")
    if subset:
        log(subset)
    table = None
    for task in runs:
        config = configs[task]
        if notes[task]:
            log(notes[task])
        log(f"{task} ({sources[task]}): " + ", ".join(f"{k}={v}" for k, v in sorted(config.items())
                                                        if k not in ("checkpoint", "glue_dir", "task")))
        ckpt_root = out_dir / CHECKPOINTS / task
        shutil.rmtree(ckpt_root, ignore_errors=True)
        run = run_local(finetune, config, ckpt_root, keep_last=1)
        final, kept = run.results[-1], kept_report(run.results, keep)
        model = keep_model(run, ckpt_root, kept["epoch"])
        also = [t for t in glue.get_task(task).also_scores if f"{glue.get_task(t).key}_val_loss" in final]
        columns = ("task", "epoch", "score", "val_loss", "train_loss", "wall_s",
                   *(f"{glue.get_task(t).key}_{k}" for t in also for k in (glue.get_task(t).metric, "val_loss")))
        history = [{**{k: r.get(k) for k in columns}, "task": task} for r in run.results]  # the merge's key
        common = {"epoch": kept["epoch"], "epochs": final["epoch"], "n_train": final["n_train"],
                  "wall_s": final["wall_s"], "model": model, "trained_as": task, "hparams_from": sources[task],
                  "subset": f"first {max_train_examples} train examples" if subset else ""}
        floor = {t: majority_baseline(t, glue_dir, max_train_examples, max_eval_examples) for t in (task, *also)}
        rows = [{"task": task, "metric": kept["metric"], "score": 100 * kept["score"], "majority": floor[task],
                 "val_loss": kept["val_loss"], "n_valid": kept["n_valid"], **common}]
        log(f"{task}: {kept['metric']} {100 * kept['score']:.1f} at epoch {kept['epoch']:g} of {final['epoch']:g} "
            f"(keep {keep}; val_loss {kept['val_loss']:.4f}, {final['wall_s']:.0f} s)")
        for name in also:  # mnli-mm: the same run, at the same kept epoch
            t = glue.get_task(name)
            rows.append({"task": name, "metric": t.metric, "score": 100 * kept[f"{t.key}_{t.metric}"],
                         "majority": floor[name], "val_loss": kept[f"{t.key}_val_loss"],
                         "n_valid": kept[f"{t.key}_n_valid"], **common})
            log(f"{name}: {t.metric} {100 * kept[f'{t.key}_{t.metric}']:.1f} (the {task} run's model)")
        settings = {k: v for k, v in config.items() if k not in ("checkpoint", "task")}
        settings["hparams_from"] = sources[task]
        table = save_run(out_dir, task, rows, history, settings, record)
    table.attrs.update(skipped=skipped, subset=subset)
    return table


def keep_model(run, ckpt_root: Path, epoch) -> str:
    """The run's final model (the kept epoch's: trainables.finetune writes it into the last checkpoint) moved to
    <ckpt_root>/model_epoch_<epoch>, named after the epoch it holds; the checkpoints (optimizer state: finetune-all
    never resumes a run) removed. "" when the run saved no model."""
    if not run.checkpoints or not (run.checkpoints[-1] / "hf").is_dir():
        return ""
    target = ckpt_root / f"model_epoch_{float(epoch):g}"
    shutil.rmtree(target, ignore_errors=True)
    (run.checkpoints[-1] / "hf").rename(target)
    for path in run.checkpoints:
        shutil.rmtree(path, ignore_errors=True)
    return str(target)


def default_glue() -> Path:
    for candidate in (Path(DEFAULT_GLUE), Path(__file__).resolve().parents[2] / "shared" / "data" / DEFAULT_GLUE):
        if candidate.is_dir():
            return candidate
    raise ConfigError(f"--glue: no {DEFAULT_GLUE}/ folder here; give the GLUE folder with --glue DIR")
