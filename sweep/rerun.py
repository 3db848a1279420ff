"""`babysweep rerun`: re-train a sweep's best configurations with new seeds, to see whether they were luck.

The BabyLlama-2 sweep's best runs, "re-trained from a different initial state, but otherwise with the exact
same parameters", significantly under-performed. This re-trains the top K configurations (or hand-picked
trials, and optionally the space's centre as a baseline) with S new seeds each (new initialisation and data
order), at the full budget with no early stopping, as one Ray Tune experiment <name>-rerun whose rows
record their source trial and seed. It resumes like any sweep (`babysweep resume <name>-rerun`).
"""
import json
import math
import shutil

from search_spaces.loader import load_space
from .errors import SweepError
from .launch import DEFAULT_STORAGE, fit, load_sweep, new_experiment_dir, ray_session, tune_state_exists
from .results import TABLE, read_table

BASELINE = "baseline"


def eligible_trials(table, budget_max):
    """Trials that ran their whole schedule (their num_epochs, or the sweep's maximum budget if lower),
    finished and did not diverge. Returns (eligible rows sorted by val_loss then trial id, notes)."""
    notes = []
    df = table[table["state"] == "TERMINATED"].copy()
    if "diverged" in df:
        diverged = df["diverged"].astype(str) == "True"
        if diverged.any():
            notes.append(f"{int(diverged.sum())} diverged trial(s) left out")
        df = df[~diverged]
    full = df["config/num_epochs"].clip(upper=budget_max) if "config/num_epochs" in df else budget_max
    reached = df["epoch"] >= full - 1e-9
    if (~reached).any():
        notes.append(f"{int((~reached).sum())} trial(s) stopped early by the scheduler left out")
    df = df[reached & df["val_loss"].notna() & (df["val_loss"] < math.inf)]
    return df.sort_values(["val_loss", "trial_id"]), notes


def trial_config(row) -> dict:
    config = {k[len("config/"):]: v for k, v in row.items() if k.startswith("config/") and not _missing(v)}
    if not config:
        raise SweepError(f"trial {row['trial_id']}: the results table holds no configuration for it")
    for k, v in config.items():  # pandas gives numpy scalars and floats for ints: back to plain values
        if hasattr(v, "item"):
            v = v.item()
        if isinstance(v, float) and v.is_integer() and k in INTEGER_PARAMS:
            v = int(v)
        config[k] = v
    return config


INTEGER_PARAMS = {"batch_size", "num_warmup_steps", "seed", "num_hidden_layers", "num_attention_heads",
                  "num_key_value_heads", "hidden_size", "intermediate_size", "max_device_batch_size",
                  "eval_batch_size", "seq_length"}


def _missing(v):
    return v is None or (isinstance(v, float) and math.isnan(v))


def select(table, budget_max, top_k=None, trials=None):
    """The rows to re-run and the notes to print (ties, shortfalls, what was left out)."""
    if trials:
        rows = []
        for tid in trials:
            match = table[table["trial_id"] == tid]
            if match.empty:
                raise SweepError(f"--trials {tid}: no such trial in the sweep")
            rows.append(match.iloc[0])
        return rows, []
    eligible, notes = eligible_trials(table, budget_max)
    if top_k < 1:
        raise SweepError(f"--top-k {top_k}: must be at least 1")
    if len(eligible) == 0:
        raise SweepError("no trial reached its full budget without diverging: nothing to re-run")
    if top_k > len(eligible):
        notes.append(f"--top-k {top_k}: only {len(eligible)} eligible trial(s); re-running all of them")
    chosen = eligible.head(top_k)
    if len(eligible) > len(chosen) and eligible["val_loss"].iloc[len(chosen)] == chosen["val_loss"].iloc[-1]:
        tied = eligible[eligible["val_loss"] == chosen["val_loss"].iloc[-1]]["trial_id"].tolist()
        notes.append(f"tie at the cut (val_loss {chosen['val_loss'].iloc[-1]:.6g}) between {', '.join(tied)}; "
                     f"broken by trial id")
    return [row for _, row in chosen.iterrows()], notes


def plan_runs(rows, seeds, original_seeds, baseline_config=None, seed_base=1000):
    """One run per (configuration, new seed). New seeds start at seed_base and skip every seed the sweep used."""
    new_seeds, s = [], seed_base
    while len(new_seeds) < seeds:
        if s not in original_seeds:
            new_seeds.append(s)
        s += 1
    runs = []
    sources = [(str(r["trial_id"]), trial_config(r)) for r in rows]
    if baseline_config is not None:
        sources.append((BASELINE, dict(baseline_config)))
    for source, config in sources:
        for seed in new_seeds:
            runs.append({**config, "seed": seed, "source_trial_id": source})
    return runs, new_seeds


def missing_runs(sweep: dict, exp) -> list[dict]:
    """Planned runs (source trial, seed) with no finished row in the results table."""
    path = exp / TABLE
    done = set()
    if path.exists():
        t = read_table(path)
        t = t[t["state"] == "TERMINATED"]
        done = set(zip(t["source_trial_id"].astype(str), t["seed"].astype(int)))
    return [r for r in sweep["runs"] if (str(r["source_trial_id"]), int(r["seed"])) not in done]


def launch_rerun(name, top_k=3, seeds=3, trials=None, baseline=False, storage=DEFAULT_STORAGE, rerun_name=None,
                 cpus_per_trial=None, gpus_per_trial=None, address=None, overwrite=False,
                 seed_base=1000, verbose=1, log=print):
    if seeds < 2:
        raise SweepError(f"--seeds {seeds}: at least 2 seeds are needed to measure a spread")
    source, source_exp = load_sweep(name, storage)
    if not (source_exp / TABLE).exists():
        raise SweepError(f"sweep {name!r} has no results table yet ({source_exp / TABLE})")
    table = read_table(source_exp / TABLE)
    space = load_space(source_exp / "space.yaml")
    rows, notes = select(table, space.budget_max, top_k, trials)
    for row in rows:
        if not isinstance(row.get("checkpoint"), str):
            raise SweepError(f"trial {row['trial_id']}: no final checkpoint (it did not finish its schedule); "
                             f"re-run finished trials")
    original_seeds = set(table["seed"].dropna().astype(int)) if "seed" in table else set()
    runs, new_seeds = plan_runs(rows, seeds, original_seeds, space.centre() if baseline else None, seed_base)
    for note in notes:
        log(f"note: {note}")
    log(f"re-running {len(rows)} configuration(s){' + the baseline' if baseline else ''} x seeds {new_seeds} "
        f"= {len(runs)} trials at full budget")

    rerun_name = rerun_name or f"{name}-rerun"
    exp = new_experiment_dir(storage, rerun_name, overwrite, "re-run")
    sweep = {
        "kind": "rerun", "name": rerun_name, "source": name, "source_experiment": str(source_exp),
        "trainable": source["trainable"], "extra": source["extra"], "data": source.get("data"),
        "cpus_per_trial": cpus_per_trial or source["cpus_per_trial"],
        "gpus_per_trial": source["gpus_per_trial"] if gpus_per_trial is None else gpus_per_trial,
        "storage": str(exp.parent), "address": address or source.get("address"),
        "algo": "rerun", "samples": len(runs), "seeds": new_seeds, "top_k": top_k, "baseline": baseline,
        "runs": runs, "notes": notes,
    }
    shutil.copyfile(source_exp / "space.yaml", exp / "space.yaml")
    (exp / "sweep.json").write_text(json.dumps(sweep, indent=2, default=str) + "\n")
    try:
        with ray_session(sweep["address"]):
            fit(sweep, exp, space, verbose)
    except SweepError:
        if not tune_state_exists(exp):
            shutil.rmtree(exp, ignore_errors=True)
        raise
    return exp
