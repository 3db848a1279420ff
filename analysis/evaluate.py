"""`babysweep evaluate`: BLiMP scores and the test loss of every trial's model, where the trial stopped (or at its
best validation loss, for a sweep launched with --keep best), computed as Ray tasks on the sweep's own cluster and
GPUs, written into the sweep's results table. The paper's Fig. 2 has "every model from the hyperparameter sweep",
trials stopped early included; --finished-only keeps those that completed their schedule.

Each score says where it comes from: scored_epoch and scored_val_loss (the report the checkpoint was taken at),
and test_loss is that model's (it replaces the trainable's own, which exists only for trials that completed).
A checkpoint that no longer exists (pruned, or the storage moved) gets a note in eval_note, not a score.

Scores are kept in <experiment>/evaluation.csv (one row per scored checkpoint) and merged into results.csv
by trial_id; the sweep's own table writer merges the same file, so evaluating a sweep that is still running
is safe. Each score is saved as soon as its task ends: an interrupted evaluation, run again, scores only
what is missing.
"""
import math
from pathlib import Path

import pandas as pd

from sweep.experiment import DEFAULT_STORAGE, load_experiment
from sweep.table import merge_evaluation, read_table, write_table
from sweep.runtime import ray_session

from .blimp import BlimpError, load_model, load_suite, score_checkpoint


def pending_checkpoints(table: pd.DataFrame, done: pd.DataFrame, only=None) -> list[tuple[str, str]]:
    """(trial_id, checkpoint) of the trials (those in `only`, when given) whose checkpoint has no score yet;
    diverged trials have no model worth scoring."""
    have = set(zip(done["trial_id"].astype(str), done["checkpoint"].astype(str))) if len(done) else set()
    rows = table[table["checkpoint"].notna()] if "checkpoint" in table else table.iloc[:0]
    if "diverged" in rows:
        rows = rows[~rows["diverged"].astype(bool)]
    if only is not None:
        rows = rows[rows["trial_id"].isin(set(only))]
    return [(str(t), str(c)) for t, c in zip(rows["trial_id"], rows["checkpoint"]) if (str(t), str(c)) not in have]


def evaluate_sweep(name, blimp_dir, supplement_dir=None, storage=DEFAULT_STORAGE, address=None, cpus_per_task=1.0,
                   gpus_per_task=0.0, batch_size=64, limit=None, strict=False, finished_only=False,
                   log=print) -> pd.DataFrame:
    import ray

    exp = load_experiment(name, storage)
    # Check the pair files here, once, so a bad file fails before any task starts
    for folder in (blimp_dir, supplement_dir):
        if folder is not None:
            _, warnings = load_suite(folder, strict=strict, limit=limit)
            for w in warnings:
                log(f"warning: {w}")
    table = exp.table
    eval_path = exp.evaluation_path
    done = read_table(eval_path) if eval_path.exists() else pd.DataFrame(columns=["trial_id", "checkpoint"])
    only = exp.complete_trials()[0]["trial_id"] if finished_only else None
    todo = pending_checkpoints(table, done, only)
    log(f"{len(todo)} checkpoint(s) to score ({'trials that completed their schedule' if finished_only else 'every trial'}"
        f"), {len(done)} already scored")
    if not todo:
        return done

    blimp_dir = str(Path(blimp_dir).resolve())
    supplement_dir = str(Path(supplement_dir).resolve()) if supplement_dir else None
    with ray_session(address or exp.spec.address):
        task = ray.remote(num_cpus=cpus_per_task, num_gpus=gpus_per_task)(score_task)
        futures = {task.remote(ckpt, blimp_dir, supplement_dir, batch_size, limit, strict, cpus_per_task): (tid, ckpt)
                   for tid, ckpt in todo}
        while futures:
            ready, _ = ray.wait(list(futures), num_returns=1)
            tid, ckpt = futures.pop(ready[0])
            scores = ray.get(ready[0])
            if "error" in scores:
                log(f"warning: trial {tid}: {scores['error']}")
                continue
            if "eval_note" in scores:  # recorded: the table says why this trial has no score
                log(f"warning: trial {tid}: {scores['eval_note']}")
            row = {"trial_id": tid, "checkpoint": ckpt, **scores}
            done = pd.concat([done, pd.DataFrame([row])], ignore_index=True)
            write_table(done, eval_path)
            merge_into_results(exp.table_path, eval_path)
            log(f"trial {tid}: BLiMP filtered {fmt(scores.get('blimp_filtered'))}, supplement "
                f"{fmt(scores.get('blimp_supplement'))}  ({len(todo) - len(futures)}/{len(todo)})")
    return done


def score_task(checkpoint, blimp_dir, supplement_dir, batch_size, limit, strict, cpus=1.0):
    """One Ray task: score one checkpoint. Errors come back as data, so one bad checkpoint does not stop the rest;
    a checkpoint that is gone comes back as a note for the table."""
    import torch

    torch.set_num_threads(max(1, int(cpus)))  # more threads than the task's CPUs slows every task down
    if not Path(checkpoint).exists():
        return {"eval_note": f"{checkpoint}: the checkpoint no longer exists (pruned, or its storage moved): "
                             f"not scored"}
    try:
        loaded = load_model(checkpoint)
        scores = score_checkpoint(checkpoint, blimp_dir, supplement_dir, batch_size=batch_size, limit=limit,
                                  strict=strict, loaded=loaded)
    except BlimpError as e:
        return {"error": str(e)}
    scores.pop("warnings", None)
    return {**where_scored(checkpoint, loaded[0]), **scores}


def where_scored(checkpoint, model) -> dict:
    """scored_epoch and scored_val_loss (the report the checkpoint was taken at, from its babysweep.json) and the
    model's test_loss on its prepared folder's test split (when the folder is there and has one)."""
    import json

    about_path = Path(checkpoint) / "babysweep.json"
    if not about_path.is_file():
        return {}
    about = json.loads(about_path.read_text())
    metrics = about.get("metrics", {})
    out = {"scored_epoch": metrics.get("epoch"), "scored_val_loss": metrics.get("val_loss")}
    test_loss = test_loss_of(model, about)
    if test_loss is not None:
        out["test_loss"] = test_loss
    return out


def test_loss_of(model, about) -> float | None:
    """Mean next-token cross-entropy on the test split of the prepared folder the model was trained on, in float32
    on the model's device; None without that folder or without a test split."""
    from contextlib import nullcontext

    from trainables.data.prepared import open_prepared
    from trainables.errors import DataError
    from trainables.pretrain import mean_loss

    data, config = about.get("data"), about.get("config") or {}
    if not data:
        return None
    try:
        prepared = open_prepared(data, about.get("tokenizer_sha256"))
    except DataError:
        return None
    if "test" not in prepared.splits:
        return None
    seq_length = int(config.get("seq_length") or prepared.meta["seq_length"])
    return mean_loss(model, prepared.tokens("test"), seq_length, int(config.get("eval_batch_size") or 32),
                     next(model.parameters()).device, nullcontext)


def merge_into_results(table_path: Path, evaluation_path: Path):
    write_table(merge_evaluation(read_table(table_path), evaluation_path), table_path)


def fmt(v):
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"
