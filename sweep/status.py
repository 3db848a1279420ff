"""`babysweep status`: what an experiment has done so far, read through its results table (works while it runs,
after it ends, and after its driver was killed). The table is read checked (sweep/table.py, through
`Experiment.table`): a damaged results.csv or evaluation.csv is a one-line SweepError naming the file, line, column
and value, so no garbage value is ever shown as a trial's result or score."""
import math

from .display import fmt
from .selection import RANKED, best_summary
from .experiment import DEFAULT_STORAGE, load_experiment


def sweep_status(name, storage=DEFAULT_STORAGE) -> dict:
    exp = load_experiment(name, storage)
    df, space = exp.table, exp.space
    best = exp.best_trial()
    return {
        "name": name, "experiment": str(exp.path), "results_table": str(exp.table_path), "driver": exp.driver(),
        "kind": exp.kind, "algo": exp.record.get("algo"), "samples": exp.record.get("samples"),
        # what the sweep optimises (its space's), which the table's columns and the best trial are shown in
        "metric": space.metric, "mode": space.mode,
        "budget_max": space.budget_max, "trials": len(df), "counts": exp.state_counts(),
        "trial_hours": float(df["wall_s"].sum() / 3600) if "wall_s" in df else 0.0,
        "gpu_hours": float(df["gpu_s"].sum() / 3600) if "gpu_s" in df else 0.0,
        "searched": list(space.params),
        "compute_budget": compute_budget(exp, df),
        "best_rule": exp.best_rule(),
        "best": None if best is None else {
            # value: what the best trial is ranked by (its kept model's, with keep=best: sweep/selection.py)
            "trial_id": best["trial_id"], "epoch": float(best["epoch"]), "metric": space.metric,
            "value": float(best[RANKED]), "final_value": float(best[space.metric]),
            "kept_epoch": to_plain(best.get("checkpoint_epoch")), "summary": best_summary(best, space.metric, exp.keep),
            "val_loss": to_plain(best.get("val_loss")),
            "checkpoint": best.get("checkpoint") if isinstance(best.get("checkpoint"), str) else None,
            "config": {k[len("config/"):]: to_plain(v) for k, v in best.items() if k.startswith("config/")}},
        "rows": [{k: to_plain(v) for k, v in row.items()} for row in df.to_dict("records")],
    }


def compute_budget(exp, df) -> list[dict]:
    """The sweep's compute limits (--max-budget, --max-hours, --max-gpu-hours) with what is used and left."""
    used = {"epochs": float(df["epoch"].sum()) if "epoch" in df else 0.0,
            "hours": float(df["wall_s"].sum() / 3600) if "wall_s" in df else 0.0,
            "gpu_hours": float(df["gpu_s"].sum() / 3600) if "gpu_s" in df else 0.0}
    out = []
    for key, unit in (("max_budget", "epochs"), ("max_hours", "hours"), ("max_gpu_hours", "gpu_hours")):
        limit = exp.record.get(key)
        if limit is not None:
            out.append({"unit": unit, "limit": limit, "used": used[unit], "left": max(0.0, limit - used[unit])})
    return out


def to_plain(v):
    if isinstance(v, float) and math.isnan(v):
        return None
    return v.item() if hasattr(v, "item") else v


def cell(v, width=9):
    return fmt(v, missing="-").rjust(width)


def metric_columns(metric: str) -> list[tuple]:
    """(header, row key) of the status table's value columns: the sweep's metric and the best of it so far, then
    val_loss when the metric is another (a fine-tuning sweep's score: its validation loss is shown beside it)."""
    columns = [(metric[:9], metric), ("best", f"best_{metric}")]
    return columns + ([("val_loss", "val_loss")] if metric != "val_loss" else [])


def format_status(st: dict) -> str:
    short = {p: p.replace("one_minus_adam_", "1-").replace("num_", "").replace("_type", "")[:12] for p in st["searched"]}
    metric = st.get("metric", "val_loss")
    values = metric_columns(metric)
    head = f"{'trial':<14}{'state':>11}{'epoch':>7}" + "".join(f"{h:>10}" for h, _ in values) \
        + "".join(f"{short[p]:>13}" for p in st["searched"])
    lines = [f"sweep {st['name']} ({st['algo']}, {st['trials']}/{st['samples']} trials, budget up to "
             f"{st['budget_max']:g} epochs, {metric} {st.get('mode', 'min')}): driver {st['driver']}", head,
             "-" * len(head)]
    for r in st["rows"]:
        lines.append(f"{r['trial_id']:<14}{r.get('state', ''):>11}{cell(r.get('epoch'), 7)}"
                     + "".join(cell(r.get(key), 10) for _, key in values)
                     + "".join(cell(r.get(f'config/{p}'), 13) for p in st["searched"]))
    lines.append("-" * len(head))
    lines.append("trials by state: " + (", ".join(f"{k} {v}" for k, v in st["counts"].items()) or "none yet"))
    lines.append(f"compute: {st['trial_hours']:.3f} trial-hours, {st['gpu_hours']:.3f} GPU-hours")
    for b in st["compute_budget"]:
        unit = b["unit"].replace("_", "-")
        lines.append(f"compute budget: {b['used']:.4g} of {b['limit']:g} {unit} used, {b['left']:.4g} left"
                     + ("; no new trial is started" if b["left"] <= 0 else ""))
    spent = [b for b in st["compute_budget"] if b["left"] <= 0]
    if spent and st["driver"] == "stopped" and (st["samples"] or 0) > st["trials"]:
        # sweep/budget.py: the searcher suggests nothing more once spend + commitments reach a limit
        lines.append(f"the sweep stopped at its compute budget: {st['trials']} of {st['samples']} samples started; "
                     "no trial starts or resumes once what was spent plus the running trials' next rungs reach "
                     "the limit")
    for r in st["rows"]:
        if r.get("state") == "ERROR" or r.get("error"):
            retried = f", failed {r['failures']:g} time(s)" if r.get("failures") else ""
            lines.append(f"{'error' if r.get('state') == 'ERROR' else 'retried'}: {r['trial_id']}{retried}: "
                         f"{r.get('error') or 'no error text kept'}"
                         + (f" (full text: {r['error_file']})" if r.get("error_file") else ""))
        if r.get("warning"):
            lines.append(f"warning: {r['trial_id']}: {r['warning']}")
    b = st["best"]
    if b:
        lines.append(f"best: {b['trial_id']} {b['summary']} ({st['best_rule']})")
        lines.append("  " + ", ".join(f"{k}={cell(v, 0)}" for k, v in b["config"].items()))
        if b["checkpoint"]:
            lines.append(f"  model: {b['checkpoint']}")
    else:
        lines.append(f"best: none yet ({st['best_rule']})")
    lines.append(f"results table: {st['results_table']}")
    return "\n".join(lines)
