"""`babysweep evaluate`: BLiMP scores for every finished trial of a sweep, computed as Ray tasks on the
sweep's own cluster and GPUs, written into the sweep's results table.

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

from .blimp import load_suite, score_checkpoint


def pending_checkpoints(table: pd.DataFrame, done: pd.DataFrame) -> list[tuple[str, str]]:
    """(trial_id, checkpoint) of finished trials whose final checkpoint has no score yet."""
    have = set(zip(done["trial_id"].astype(str), done["checkpoint"].astype(str))) if len(done) else set()
    rows = table[table["checkpoint"].notna()] if "checkpoint" in table else table.iloc[:0]
    return [(str(t), str(c)) for t, c in zip(rows["trial_id"], rows["checkpoint"]) if (str(t), str(c)) not in have]


def evaluate_sweep(name, blimp_dir, supplement_dir=None, storage=DEFAULT_STORAGE, address=None, cpus_per_task=1.0,
                   gpus_per_task=0.0, batch_size=64, limit=None, strict=False, log=print) -> pd.DataFrame:
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
    todo = pending_checkpoints(table, done)
    log(f"{len(todo)} checkpoint(s) to score, {len(done)} already scored")
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
            row = {"trial_id": tid, "checkpoint": ckpt, **scores}
            done = pd.concat([done, pd.DataFrame([row])], ignore_index=True)
            write_table(done, eval_path)
            merge_into_results(exp.table_path, eval_path)
            log(f"trial {tid}: BLiMP filtered {fmt(scores.get('blimp_filtered'))}, supplement "
                f"{fmt(scores.get('blimp_supplement'))}  ({len(todo) - len(futures)}/{len(todo)})")
    return done


def score_task(checkpoint, blimp_dir, supplement_dir, batch_size, limit, strict, cpus=1.0):
    """One Ray task: score one checkpoint. Errors come back as data, so one bad checkpoint does not stop the rest."""
    import torch

    from .blimp import BlimpError

    torch.set_num_threads(max(1, int(cpus)))  # more threads than the task's CPUs slows every task down

    try:
        scores = score_checkpoint(checkpoint, blimp_dir, supplement_dir, batch_size=batch_size, limit=limit,
                                  strict=strict)
    except BlimpError as e:
        return {"error": str(e)}
    scores.pop("warnings", None)
    return scores


def merge_into_results(table_path: Path, evaluation_path: Path):
    write_table(merge_evaluation(read_table(table_path), evaluation_path), table_path)


def fmt(v):
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"
