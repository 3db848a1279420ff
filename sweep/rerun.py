"""`babysweep rerun`: re-train a sweep's best configurations with new seeds, to see whether they were luck.

The BabyLlama-2 sweep's best runs, "re-trained from a different initial state, but otherwise with the exact
same parameters", significantly under-performed. This picks the top K complete trials (the rule of
sweep/selection.py) or hand-picked ones, optionally the space's centre as a baseline, plans S new seeds each,
(by default changing the initialisation only) and launches them as a fixed-configuration grid (sweep/kinds/grid.py) named <name>-rerun, whose rows record
their source trial and seed. It resumes like any experiment (`babysweep resume <name>-rerun`).
"""
import math

from .errors import SweepError
from .failures import check_max_failures
from .experiment import DEFAULT_STORAGE, load_experiment
from .kinds import RerunSpec, accepted_names, resolve_trainable
from .launch import launch

BASELINE = "baseline"
INTEGER_PARAMS = {"batch_size", "num_warmup_steps", "seed", "data_seed", "num_hidden_layers", "num_attention_heads",
                  "num_key_value_heads", "hidden_size", "intermediate_size", "max_device_batch_size",
                  "eval_batch_size", "seq_length"}


def trial_config(row) -> dict:
    """The trainable config of a results-table row (its config/<name> columns, as plain Python values)."""
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


def _missing(v):
    return v is None or (isinstance(v, float) and math.isnan(v))


def select(exp_or_table, budget_max=None, top_k=None, trials=None, metric="val_loss", mode="min"):
    """The rows to re-run and the notes to print (ties, shortfalls, what was left out). Takes an Experiment (its
    space gives the budget, metric and mode), or a results table with the space's maximum budget, metric, mode."""
    from .selection import RANKED, complete_trials

    table = getattr(exp_or_table, "table", exp_or_table)
    if trials:
        rows = []
        for tid in trials:
            match = table[table["trial_id"] == tid]
            if match.empty:
                raise SweepError(f"--trials {tid}: no such trial in the sweep")
            rows.append(match.iloc[0])
        return rows, []
    keep = "last"
    if budget_max is None:
        space = exp_or_table.space
        budget_max, metric, mode, keep = space.budget_max, space.metric, space.mode, exp_or_table.keep
    eligible, notes = complete_trials(table, budget_max, metric, mode, keep)
    if top_k < 1:
        raise SweepError(f"--top-k {top_k}: must be at least 1")
    if len(eligible) == 0:
        raise SweepError("no trial reached its full budget without diverging: nothing to re-run")
    if top_k > len(eligible):
        notes.append(f"--top-k {top_k}: only {len(eligible)} eligible trial(s); re-running all of them")
    chosen = eligible.head(top_k)
    cut = chosen[RANKED].iloc[-1]
    if len(eligible) > len(chosen) and eligible[RANKED].iloc[len(chosen)] == cut:
        tied = eligible[eligible[RANKED] == cut]["trial_id"].tolist()
        notes.append(f"tie at the cut ({metric} {cut:.6g}) between {', '.join(tied)}; broken by trial id")
    return [row for _, row in chosen.iterrows()], notes


RESEED = ("init", "data", "both")


def plan_runs(rows, seeds, original_seeds, baseline_config=None, seed_base=1000, reseed="init", data_seed=True):
    """One run per (configuration, new seed). New seeds start at seed_base and skip every seed the sweep used.

    reseed says what a new seed changes: "init" (the paper: "re-trained from a different initial state", on the
    source's data order), "data" (the data order alone) or "both". A trainable with no separate data_seed
    (data_seed=False) takes the new seed as its only seed."""
    new_seeds, s = [], seed_base
    while len(new_seeds) < seeds:
        if s not in original_seeds:
            new_seeds.append(s)
        s += 1
    sources = [(str(r["trial_id"]), trial_config(r)) for r in rows]
    if baseline_config is not None:
        sources.append((BASELINE, dict(baseline_config)))
    runs = []
    for source, config in sources:
        init, order = config.get("seed", 0), config.get("data_seed", config.get("seed", 0))
        for seed in new_seeds:
            run = {**config, "seed": seed, "source_trial_id": source}
            if data_seed:
                run["seed"] = seed if reseed in ("init", "both") else init
                run["data_seed"] = seed if reseed in ("data", "both") else order
            runs.append(run)
    return runs, new_seeds


def baseline_config(source) -> tuple[dict, str]:
    """The baseline of a re-run, and what it is: the paper's teacher hyperparameters (search_spaces/
    teacher_table2.yaml) on the sweep's model and settings for a pretraining sweep; else the space's centre."""
    from search_spaces.loader import SPACES_DIR, load_space

    centre = source.space.centre()
    if source.spec.trainable != "pretrain":
        return centre, "the centre of the space's priors"
    teacher = load_space(SPACES_DIR / "teacher_table2.yaml", searchable=False).centre()
    keep = {"preset", "seed", *(k for k in centre if k not in teacher)}  # the sweep's model, data and settings
    return {**{k: v for k, v in centre.items() if k in keep}, **{k: v for k, v in teacher.items() if k not in keep}},\
        "the paper's teacher (Table 2 hyperparameters, search_spaces/teacher_table2.yaml) on the sweep's model"


def launch_rerun(name, top_k=3, seeds=3, trials=None, baseline=False, storage=DEFAULT_STORAGE, rerun_name=None,
                 cpus_per_trial=None, gpus_per_trial=None, address=None, overwrite=False, reseed="init",
                 seed_base=1000, max_failures=None, verbose=1, log=print):
    if seeds < 2:
        raise SweepError(f"--seeds {seeds}: at least 2 seeds are needed to measure a spread")
    if reseed not in RESEED:
        raise SweepError(f"--reseed {reseed}: must be one of {', '.join(RESEED)}")
    if max_failures is not None:
        check_max_failures(max_failures)
    source = load_experiment(name, storage)
    table = source.require_table()
    rows, notes = select(source, top_k=top_k, trials=trials)
    for row in rows:
        if not isinstance(row.get("checkpoint"), str):
            raise SweepError(f"trial {row['trial_id']}: no final checkpoint to compare with (its table row names none)")
    used = {int(v) for c in ("seed", "config/seed", "config/data_seed") if c in table for v in table[c].dropna()}
    accepted = accepted_names(resolve_trainable(source.spec.trainable))
    separate = accepted is not None and "data_seed" in accepted
    base, what = baseline_config(source) if baseline else (None, None)
    runs, new_seeds = plan_runs(rows, seeds, used, base, seed_base, reseed, separate)
    for note in notes:
        log(f"note: {note}")
    if baseline:
        log(f"baseline: {what}")
    log(f"re-running {len(rows)} configuration(s){' + the baseline' if baseline else ''} x seeds {new_seeds} "
        f"= {len(runs)} trials at full budget; the new seeds change "
        + ({"init": "the initialisation only", "data": "the data order only", "both": "the initialisation and the "
            "data order"}[reseed] if separate else "the trainable's one seed"))
    s = source.spec
    spec = RerunSpec(
        name=rerun_name or f"{name}-rerun", storage=str(source.path.parent), trainable=s.trainable, data=s.data,
        extra=s.extra, cpus_per_trial=cpus_per_trial or s.cpus_per_trial,
        gpus_per_trial=s.gpus_per_trial if gpus_per_trial is None else gpus_per_trial,
        address=address or s.address, wandb=s.wandb, keep=s.keep, constant_schedule=s.constant_schedule,
        max_failures=s.max_failures if max_failures is None else max_failures, runs=runs, source=name, source_experiment=str(source.path), seeds=new_seeds, top_k=top_k,
        baseline=baseline, notes=notes + ([f"baseline: {what}"] if baseline else []), reseed=reseed)
    return launch(spec, overwrite=overwrite, verbose=verbose, what="re-run")
