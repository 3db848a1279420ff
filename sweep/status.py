"""`babysweep status`: what a sweep has done so far, read from its results table (works while it runs,
after it ends, and after its driver was killed)."""
import json
import math
import os
import socket
from pathlib import Path

import pandas as pd

from search_spaces.loader import load_space
from .launch import DEFAULT_STORAGE, load_sweep
from .results import TABLE, read_table

STATES = ["RUNNING", "PAUSED", "PENDING", "TERMINATED", "ERROR", "LOST"]  # LOST: see launch.reconcile_with_table


def driver_state(exp: Path) -> str:
    """'running (pid N)', or 'stopped' when no driver holds the sweep (ended, interrupted or killed)."""
    path = exp / "driver.json"
    if not path.is_file():
        return "stopped"
    info = json.loads(path.read_text())
    if info.get("host") != socket.gethostname():
        return f"running on {info.get('host')} (pid {info.get('pid')})"
    try:
        os.kill(info["pid"], 0)
    except ProcessLookupError:
        return "stopped (driver killed)"
    except PermissionError:
        pass
    return f"running (pid {info['pid']})"


def best_trial(df: pd.DataFrame, metric="val_loss", mode="min"):
    """The best last value of the sweep's metric among trials that reached the highest budget any trial
    reached (a trial stopped at 1 epoch is not comparable to one trained for 27), diverged ones excluded."""
    if metric not in df:
        return None
    ok = df[df[metric].notna() & (df[metric].abs() < math.inf)]
    if "diverged" in ok:
        ok = ok[ok["diverged"].astype(str) != "True"]
    if ok.empty:
        return None
    top = ok[ok["epoch"] >= ok["epoch"].max() - 1e-9]
    return top.loc[top[metric].idxmin() if mode == "min" else top[metric].idxmax()]


def sweep_status(name, storage=DEFAULT_STORAGE) -> dict:
    sweep, exp = load_sweep(name, storage)
    table = exp / TABLE
    df = read_table(table) if table.exists() else pd.DataFrame(columns=["trial_id", "state", "epoch", "val_loss"])
    space = load_space(exp / "space.yaml")
    best = best_trial(df, space.metric, space.mode) if len(df) else None
    return {
        "name": name, "experiment": str(exp), "results_table": str(table), "driver": driver_state(exp),
        "algo": sweep["algo"], "samples": sweep["samples"], "budget_max": space.budget_max,
        "trials": len(df), "counts": {s: int((df["state"] == s).sum()) for s in STATES if (df["state"] == s).any()},
        "trial_hours": float(df["wall_s"].sum() / 3600) if "wall_s" in df else 0.0,
        "gpu_hours": float(df["gpu_s"].sum() / 3600) if "gpu_s" in df else 0.0,
        "searched": list(space.params),
        "best": None if best is None else {
            "trial_id": best["trial_id"], "epoch": float(best["epoch"]), "metric": space.metric,
            "value": float(best[space.metric]), "val_loss": to_plain(best.get("val_loss")),
            "checkpoint": best.get("checkpoint") if isinstance(best.get("checkpoint"), str) else None,
            "config": {k[len("config/"):]: to_plain(v) for k, v in best.items() if k.startswith("config/")}},
        "rows": [{k: to_plain(v) for k, v in row.items()} for row in df.to_dict("records")],
    }


def to_plain(v):
    if isinstance(v, float) and math.isnan(v):
        return None
    return v.item() if hasattr(v, "item") else v


def fmt(v, width=9):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-".rjust(width)
    if isinstance(v, float):
        return f"{v:.4g}".rjust(width)
    return str(v).rjust(width)


def format_status(st: dict) -> str:
    short = {p: p.replace("one_minus_adam_", "1-").replace("num_", "").replace("_type", "")[:12] for p in st["searched"]}
    head = f"{'trial':<14}{'state':>11}{'epoch':>7}{'val_loss':>10}{'best':>10}" + "".join(f"{short[p]:>13}" for p in st["searched"])
    lines = [f"sweep {st['name']} ({st['algo']}, {st['trials']}/{st['samples']} trials, budget up to "
             f"{st['budget_max']:g} epochs): driver {st['driver']}", head, "-" * len(head)]
    for r in st["rows"]:
        lines.append(f"{r['trial_id']:<14}{r.get('state', ''):>11}{fmt(r.get('epoch'), 7)}{fmt(r.get('val_loss'), 10)}"
                     f"{fmt(r.get('best_val_loss'), 10)}" + "".join(fmt(r.get(f'config/{p}'), 13) for p in st["searched"]))
    lines.append("-" * len(head))
    lines.append("trials by state: " + (", ".join(f"{k} {v}" for k, v in st["counts"].items()) or "none yet"))
    lines.append(f"compute: {st['trial_hours']:.3f} trial-hours, {st['gpu_hours']:.3f} GPU-hours")
    b = st["best"]
    if b:
        lines.append(f"best: {b['trial_id']} {b['metric']} {b['value']:.4f} at epoch {b['epoch']:g} (best last "
                     f"{b['metric']} among trials at the highest budget reached)")
        lines.append("  " + ", ".join(f"{k}={fmt(v, 0)}" for k, v in b["config"].items()))
        if b["checkpoint"]:
            lines.append(f"  model: {b['checkpoint']}")
    lines.append(f"results table: {st['results_table']}")
    return "\n".join(lines)
