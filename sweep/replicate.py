"""`babysweep replicate`: model families, the paper's unit of comparison (section 6, Figure 1: "the variability
across model initializations, with a minimum of 5 runs per model").

A *family* is a named recipe trained with S seeds:

    launch_family("teacher", "search_spaces/teacher_table2.yaml", data="data/prepared", seeds=5)
    launch_family("student2", "search_spaces/student_table2.yaml", data=..., sets={"teachers": [A, B]})

The recipe is a space file's constants (its centre), with `sets` (--set) over them; a space file that searches a
parameter is refused unless --set fixes it. Each seed is one run of the fixed-configuration grid
(sweep/kinds/grid.py, the kind `rerun` and the scan launch), so the family is one resumable Ray Tune experiment:
`status`, `resume` (also after its driver was killed), `evaluate` and `analyze` take it as they take a re-run. Its
runs' source_trial_id is RECIPE ("recipe:data_seed=N" when the seeds change the data order alone: the grid finds the
runs a killed driver never started by (source_trial_id, seed), so every run needs its own pair), and sweep.json
records algo "replicate", the recipe file (`space`) and notes saying what the recipe is.

What a seed changes (`reseed`, as `rerun --reseed`): by default the initialisation only ("init"), on the recipe's
data order (its data_seed, else its seed), as the paper's families vary "model initializations"; "data" the data
order alone, "both" both. Seeds are consecutive from `seed_base` (default: the recipe's seed, so that the first
member is the recipe itself, as `babysweep train` trains it).

The family's space.yaml is the recipe written as a space (constants: the configuration every run shares; `seed`,
or what the seeds change, as an int_uniform parameter over the family's seeds), so that readers of a space
(`status` lists its parameters as columns; the selection rules read its budget and metric) take the family as
they take any experiment. The file the recipe came from is recorded in sweep.json as `space`.

A *direct-ensemble family* (`build_ensembles`) is made from another family's (or a sweep's) finished models, no
training and no Ray: every combination of K of them (or disjoint groups, or N), each an ensemble folder
(trainables.ensemble.write_ensemble: the mean of its members' logits) in <family>/ensembles/, scored on the
prepared folder's validation and test splits (trainables.pretrain.mean_loss, float32), with a results table in
the format every experiment has (trial_id, state TERMINATED, val_loss, test_loss, seed = the ensemble's number,
checkpoint = its folder, `members` = its members' trial ids joined by '+', the members' shared config/ columns).
Each ensemble folder holds a babysweep.json naming its prepared folder and its losses, so `evaluate NAME` scores
it (BLiMP, its test loss) as it scores a trial's model. The folder is built aside and published in one rename:
a failure leaves nothing behind. It is a grid record (algo "ensemble") with nothing for Ray to resume.
"""
import json
import math
import os
import shutil
import time
from pathlib import Path

import yaml

from trainables.files import scratch_folder

from . import folder
from .errors import SweepError
from .failures import DEFAULT_MAX_FAILURES, check_max_failures
from .folder import DEFAULT_STORAGE, SPACE
from .records import stored_record
from .kinds import EnsembleFamilySpec, FamilySpec, absolute_paths, accepted_names, resolve_trainable
from .kinds.base import TRAINABLES, as_launched, check_trial_config
from .rerun import RESEED
from .launch import launch
from .runtime import check_address

RECIPE = "recipe"          # source_trial_id of every run of a family
ENSEMBLES = "ensembles"    # the ensemble folders of a direct-ensemble family, inside its experiment folder


# ---------------------------------------------------------------------------------------------- a family of seeds


def check_seeds(seeds) -> int:
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise SweepError(f"--seeds {seeds}: must be a whole number >= 1 (runs of the recipe, one per seed)")
    return seeds


def check_new_name(name, storage, overwrite, what="family") -> Path:
    """The folder of a new experiment `name`; SweepError when one exists and overwrite is not given (or it is
    running). Writes nothing."""
    exp = folder.experiment_dir(storage, name)
    if exp.exists() and (not exp.is_dir() or any(exp.iterdir())):
        if not overwrite:
            raise SweepError(f"{what} {name!r} already exists in {exp.parent}; continue it with "
                             f"`babysweep resume {name}` or start afresh with --overwrite")
        folder.check_not_running(exp)
    return exp


def load_recipe(space, trainable=None, sets=None, log=print):
    """(space, trainable name, trainable function, config): the recipe of `space` (a file of constants, or a space
    whose searched parameters `sets` all fix) with `sets` over it, checked against the trainable's names."""
    from search_spaces.loader import load_space

    sets = {k: _plain(v) for k, v in (sets or {}).items()}
    recipe = load_space(space, searchable=False)
    unfixed = [p for p in recipe.params if p not in sets]
    if unfixed:
        prior = recipe.params[unfixed[0]]
        raise SweepError(f"--space {recipe.path}: searches {unfixed[0]} ({prior.kind} {list(prior.args)}); a recipe "
                         f"is constants only: fix it with --set {unfixed[0]}=VALUE, or sweep the space with "
                         f"`babysweep launch`")
    if trainable is None:
        trainable = recipe.trainable
        try:
            fn = resolve_trainable(trainable)
        except SweepError as e:  # name the file, not an option the user did not give
            raise SweepError(str(e).replace(f"--trainable {trainable}", f"{recipe.path}: trainable {trainable}",
                                            1)) from None
    else:
        fn = resolve_trainable(trainable)
        if TRAINABLES.get(trainable, trainable) != TRAINABLES.get(recipe.trainable, recipe.trainable):
            log(f"note: --trainable {trainable} is used; {recipe.path} names {recipe.trainable}")
    accepted = accepted_names(fn)
    if accepted is not None:
        recipe.check_names(accepted, trainable)
        unknown = sorted(set(sets) - accepted)
        if unknown:
            raise SweepError(f"--set {unknown[0]}: not a parameter of the {trainable} trainable")
        if "seed" not in accepted:
            raise SweepError(f"--trainable {trainable}: takes no seed, and a family is one run per seed")
    config = {**{k: v for k, v in recipe.centre().items() if k not in recipe.params}, **absolute_paths(fn, sets)}
    return recipe, trainable, fn, config


def _plain(value):
    """Paths as strings (a --set value is YAML; a library caller may pass Path objects): the recipe is written as
    YAML and JSON."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def plan_seeds(config, seeds, seed_base=None, reseed="init", data_seed=True) -> tuple[list, list]:
    """(runs, seeds): one run of `config` per seed, consecutive from seed_base (default: the recipe's seed). A new
    seed changes the initialisation (reseed init), the data order (data) or both, on the recipe's data order (its
    data_seed, else its seed); a trainable without a separate data_seed (data_seed=False) takes it as its seed."""
    if reseed not in RESEED:
        raise SweepError(f"--reseed {reseed}: must be one of {', '.join(RESEED)}")
    for key in ("seed", "data_seed"):
        value = config.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise SweepError(f"{key}: the recipe's {key} must be a whole number, got {value!r}")
    init = config.get("seed") or 0
    order = config["data_seed"] if config.get("data_seed") is not None else init
    base = init if seed_base is None else seed_base
    if isinstance(base, bool) or not isinstance(base, int) or base < 0:
        raise SweepError(f"--seed-base {base}: must be a whole number >= 0")
    new = list(range(base, base + seeds))
    runs = []
    for seed in new:
        run = {**config, "seed": seed}
        source = RECIPE
        if data_seed:
            run["seed"] = seed if reseed in ("init", "both") else init
            run["data_seed"] = seed if reseed in ("data", "both") else order
            if reseed == "data":  # the grid tells its runs apart by (source_trial_id, seed): the seed is one here
                source = f"{RECIPE}:data_seed={seed}"
        runs.append({**run, "source_trial_id": source})
    return runs, new


def family_space_text(name, recipe, trainable, runs, seeds, sets) -> str:
    """The family's space.yaml: the recipe as constants, what the seeds change as an int_uniform over them."""
    keys = [k for k in ("seed", "data_seed") if len({r.get(k) for r in runs}) > 1] or ["seed"]
    shared = {k: v for k, v in runs[0].items() if k not in keys and k != "source_trial_id"}
    ranges = {k: [min(r[k] for r in runs), max(r[k] for r in runs)] for k in keys}
    for k, (lo, hi) in ranges.items():
        if hi == lo:  # a one-seed family: a parameter needs min < max
            ranges[k] = [lo, lo + 1]
    given = ", ".join(f"{k}={v}" for k, v in sets.items())
    head = [f"The family {name} (babysweep replicate): the recipe {Path(recipe.path).resolve()}",
            f"(its constants{', with --set ' + given if given else ''}) trained with seeds {seeds}, one run per seed.",
            f"{' and '.join(keys)}: written as a parameter over the family's seeds, so that the family reads as a "
            f"space (status lists it);",
            "the runs themselves are in sweep.json."]
    if len(seeds) == 1:
        head.append("A one-seed family: its range is one wider than the seed only because a parameter needs "
                    "min < max.")
    doc = {"name": recipe.name, "trainable": trainable, "metric": recipe.metric, "mode": recipe.mode,
           "budget": {"min": recipe.budget_min, "max": recipe.budget_max}, "constants": shared,
           "parameters": {k: {"int_uniform": v} for k, v in ranges.items()}}
    return "".join(f"# {line}\n" for line in head) + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)


def launch_family(name, space, trainable=None, seeds=3, sets=None, data=None, storage=DEFAULT_STORAGE,
                  address=None, cpus_per_trial=1.0, gpus_per_trial=0.0, max_failures=DEFAULT_MAX_FAILURES,
                  overwrite=False, seed_base=None, reseed="init", keep=None, verbose=1, log=print) -> Path:
    """Train the recipe of `space` (with `sets` over it) with `seeds` seeds as the grid experiment `name`.
    Everything is checked before anything is written (one-line errors). Returns the experiment folder."""
    from trainables.data.prepared import open_prepared

    check_seeds(seeds)
    check_max_failures(max_failures)
    exp = check_new_name(name, storage, overwrite)
    recipe, trainable, fn, config = load_recipe(space, trainable, sets, log)
    data = data if data is not None else config.pop("data", None)
    config.pop("data", None)
    if data is not None:
        data = str(Path(open_prepared(data).folder).resolve())
    accepted = accepted_names(fn)
    separate = accepted is not None and "data_seed" in accepted  # as rerun: a trainable that declares data_seed
    runs, new_seeds = plan_seeds(config, seeds, seed_base, reseed, separate)
    extra = {"data": data} if data is not None else {}
    what = ({"init": "the initialisation", "data": "the data order", "both": "the initialisation and the data order"}
            [reseed] if separate else "the trainable's one seed")
    notes = [f"recipe: {recipe.path.resolve()}" + (f" with --set {', '.join(f'{k}={v}' for k, v in sets.items())}"
                                                   if sets else ""),
             f"{seeds} seed(s) {new_seeds}: each changes {what}"]
    spec = FamilySpec(name=name, storage=str(exp.parent), trainable=trainable, data=data, extra=extra,
                    cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial, address=address, keep=keep,
                    max_failures=max_failures, runs=runs, seeds=new_seeds, reseed=reseed,
                    space=str(recipe.path.resolve()), notes=notes)
    spec.prepare()
    if address:
        check_address(address)
    trial = {k: v for k, v in runs[0].items() if k != "source_trial_id"}
    check_trial_config(fn, as_launched({**trial, **spec.extra}, spec.constant_schedule))
    text = family_space_text(name, recipe, trainable, runs, new_seeds, dict(sets or {}))
    log(f"family {name}: {recipe.path.name}, {trainable}, seeds {new_seeds} ({len(runs)} run(s)); each seed "
        f"changes {what}")
    with scratch_folder(prefix="babysweep-family-") as tmp:
        space_copy = tmp / SPACE
        space_copy.write_text(text)
        return launch(spec, overwrite, verbose, what="family", space_file=space_copy)


# ---------------------------------------------------------------------------------------------- direct ensembles


def finished_models(source) -> list[dict]:
    """The rows of `source` (an Experiment) whose model is finished: trials that completed their schedule without
    diverging (sweep.selection's rule), with a checkpoint that is there and is not itself an ensemble; in trial
    order."""
    from search_spaces.loader import SpaceError
    from trainables.ensemble import is_ensemble

    from .table import FINISHED, parse_bool

    table = source.table
    try:
        done = source.complete_trials().trials
    except SpaceError:  # a space copy that cannot be read: every finished, non-diverged trial
        done = table[table["state"] == FINISHED] if "state" in table else table.iloc[:0]
        if "diverged" in done:
            done = done[~done["diverged"].map(parse_bool).astype(bool)]
    if "checkpoint" not in done:
        return []
    rows = [r for r in done.sort_values("trial_id").to_dict("records")
            if isinstance(r.get("checkpoint"), str) and Path(r["checkpoint"]).is_dir()]
    return [r for r in rows if not is_ensemble(r["checkpoint"])]


def data_of(source, rows) -> str | None:
    """The prepared folder the models were trained on: the source's --data, else the first model's babysweep.json."""
    if source.spec.data:
        return source.spec.data
    for row in rows:
        about = Path(row["checkpoint"]) / "babysweep.json"
        if about.is_file():
            data = json.loads(about.read_text()).get("data")
            if data:
                return data
    return None


def member_about(row) -> dict:
    about = Path(row["checkpoint"]) / "babysweep.json"
    return json.loads(about.read_text()) if about.is_file() else {}


def shared_columns(rows) -> dict:
    """The config/ columns every member has, with one value."""
    out = {}
    for column in rows[0]:
        if not column.startswith("config/"):
            continue
        values = [r.get(column) for r in rows]
        if all(_same(v, values[0]) for v in values):
            out[column] = values[0]
    return out


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return False  # a column none of them has a value in
    return a == b


MAX_COMBINATIONS = 20  # --combinations all builds every one up to here; above it, this many drawn at random


def check_combinations(combinations):
    """all, disjoint, or a whole number N >= 1; SweepError (one line) otherwise."""
    if combinations in ("all", "disjoint"):
        return combinations
    try:
        n = int(combinations)
    except (TypeError, ValueError):
        n = None
    if n is None or isinstance(combinations, bool) or n < 1 or str(n) != str(combinations).strip():
        raise SweepError(f"--combinations {combinations}: must be all, disjoint or a whole number >= 1")
    return n


def ensemble_groups(rows: list, size: int, combinations="all", source="") -> tuple[list, list]:
    """(groups of `size` rows, notes): `disjoint`: consecutive groups in trial order, the rest left out; `all`:
    every combination of `size` of them (C(n, k): 3 teachers give 3 pairs, not 1), at most MAX_COMBINATIONS;
    N: N combinations. Where fewer than all are taken, they are drawn at random (seed 0) and kept in order.
    `source`: the family the rows are of, named in the notes."""
    import itertools
    import random

    n, of = len(rows), f" of {source}" if source else ""
    if combinations == "disjoint":
        groups = [rows[i:i + size] for i in range(0, n - size + 1, size)]
        notes = [f"{len(groups)} disjoint ensemble(s) of {size} from the {n} finished model(s){of}, in trial order"]
        if n % size:
            notes.append(f"left out (fewer than {size} remained): "
                         f"{', '.join(r['trial_id'] for r in rows[len(groups) * size:])}")
        return groups, notes
    every = list(itertools.combinations(range(n), size))
    want = min(len(every), MAX_COMBINATIONS if combinations == "all" else combinations)
    chosen = every if want == len(every) else sorted(random.Random(0).sample(every, want))
    notes = [f"{len(chosen)} ensemble(s) of {size} from the {n} finished model(s){of}: "
             + ("every combination" if want == len(every) else f"{want} of the {len(every)} combinations, drawn "
                f"at random (seed 0)") + "; ensembles sharing a member are not independent samples"]
    return [[rows[i] for i in c] for c in chosen], notes


def build_ensembles(name, ensemble_of, size=2, storage=DEFAULT_STORAGE, overwrite=False, device=None,
                    log=print, combinations="all") -> Path:
    """The direct-ensemble family `name` from the finished models of the family (or sweep) `ensemble_of`: groups
    of `size` (ensemble_groups: every combination by default, or disjoint ones, or N), each an ensemble folder
    scored on the prepared folder's validation and test splits. Checked before anything is written; built aside
    and published in one rename. Returns the experiment folder."""
    import pandas as pd

    from trainables.data.prepared import open_prepared
    from trainables.ensemble import score_new_ensemble
    from trainables.files import staged_folder, write_json, write_text

    from .experiment import load_experiment
    from .table import FINISHED, order_columns, write_table

    if isinstance(size, bool) or not isinstance(size, int) or size < 2:
        raise SweepError(f"--size {size}: an ensemble needs at least 2 members")
    combinations = check_combinations(combinations)
    if name == ensemble_of:
        raise SweepError(f"--ensemble-of {ensemble_of}: is the family being built; give another name")
    exp = check_new_name(name, storage, overwrite, "ensemble family")
    source = load_experiment(ensemble_of, storage)
    if isinstance(source.spec, EnsembleFamilySpec):
        raise SweepError(f"--ensemble-of {ensemble_of}: is itself a family of ensembles; give the family their "
                         f"members came from")
    rows = finished_models(source)
    if len(rows) < size:
        raise SweepError(f"--ensemble-of {ensemble_of}: {len(rows)} finished model(s) (trials that completed their "
                         f"schedule, with a checkpoint), fewer than --size {size}")
    data_folder = data_of(source, rows)
    if not data_folder:
        raise SweepError(f"--ensemble-of {ensemble_of}: names no prepared data folder to score the ensembles on")
    data = open_prepared(data_folder)
    groups, notes = ensemble_groups(rows, size, combinations, ensemble_of)
    for note in notes:
        log(note)
    spec = EnsembleFamilySpec(name=name, storage=str(exp.parent), trainable=source.spec.trainable, data=data_folder,
                    extra={"data": data_folder}, runs=[{"members": [r["trial_id"] for r in g], "seed": i,
                                                        "source_trial_id": "+".join(r["trial_id"] for r in g)}
                                                       for i, g in enumerate(groups)],
                    source=ensemble_of, source_experiment=str(source.path),
                    seeds=list(range(len(groups))), top_k=size, space=str(source.path / SPACE), notes=notes)
    spec.prepare()

    exp.parent.mkdir(parents=True, exist_ok=True)
    with staged_folder(exp) as staging:
        table = []
        for i, group in enumerate(groups):
            t0 = time.perf_counter()
            trial_id = f"ensemble_{i:02d}"
            out = staging.path / ENSEMBLES / trial_id
            about = member_about(group[0])
            L = int((about.get("config") or {}).get("seq_length") or data.meta["seq_length"])
            batch = int((about.get("config") or {}).get("eval_batch_size") or 32)
            if about.get("tokenizer_sha256") and about["tokenizer_sha256"] != data.tokenizer_sha256:
                raise SweepError(f"--ensemble-of {ensemble_of}: {group[0]['checkpoint']} was not trained on the "
                                 f"tokenizer of {data.folder}")
            # built in a staging folder beside the family, which is no experiment yet: its members may lie anywhere in
            # the storage, as they may once it is published (trainables.ensemble.members_root)
            val_loss, test_loss = score_new_ensemble(out, [r["checkpoint"] for r in group], data, L, batch,
                                                     trusted_root=exp.parent, device=device)
            epochs = [r.get("epoch") for r in group if isinstance(r.get("epoch"), (int, float))]
            epoch = min(epochs) if epochs else None
            members = [r["trial_id"] for r in group]
            write_json(out / "babysweep.json", {
                "kind": "ensemble", "source": ensemble_of, "members": [r["checkpoint"] for r in group],
                "member_trial_ids": members, "data": str(Path(data.folder).resolve()),
                "data_key": data.meta.get("key"), "tokenizer_sha256": data.tokenizer_sha256,
                "config": {"seq_length": L, "eval_batch_size": batch},
                "metrics": {"epoch": epoch, "val_loss": val_loss, "test_loss": test_loss}}, default=str)
            wall = time.perf_counter() - t0
            table.append({"trial_id": trial_id, "state": FINISHED, "epoch": epoch, "val_loss": val_loss,
                          "best_val_loss": val_loss, "test_loss": test_loss, "seed": i, "wall_s": wall, "gpu_s": 0.0,
                          # relative to the family's folder (sweep/table.py), the table written where it is staged
                          "checkpoint": f"{ENSEMBLES}/{trial_id}", "checkpoint_epoch": epoch,
                          "checkpoint_val_loss": val_loss, "diverged": False, **shared_columns(group),
                          "members": "+".join(members),
                          "member_seeds": "+".join(str(r.get("seed")) for r in group),
                          "source_trial_id": "+".join(members)})
            log(f"{trial_id}: {' + '.join(members)}: val_loss {val_loss:.4f}"
                + (f", test_loss {test_loss:.4f}" if test_loss is not None else "") + f" ({wall:.1f} s)")
        write_table(order_columns(pd.DataFrame(table)), staging.path / "results.csv")
        write_text(staging.path / SPACE, (source.path / SPACE).read_text())
        write_json(staging.path / folder.RECORD, stored_record(spec.to_record()), default=str)
        if overwrite and exp.exists():
            folder.check_not_running(exp)
            shutil.rmtree(exp)
    if not staging.published:
        raise SweepError(f"ensemble family {name!r}: another process made {exp} meanwhile; nothing was replaced")
    return exp


def family_summary(exp) -> list[str]:
    """What `replicate` prints under the status of a direct-ensemble family: its ensembles and members."""
    from .table import read_table

    t = read_table(exp / "results.csv")
    return [f"{r['trial_id']}: members {r['members']}, val_loss {r['val_loss']:.4f}"
            + (f", test_loss {r['test_loss']:.4f}" if isinstance(r.get("test_loss"), float)
               and not math.isnan(r["test_loss"]) else "") + f"; folder {r['checkpoint']}"
            for r in t.to_dict("records")]


__all__ = ["ENSEMBLES", "RECIPE", "build_ensembles", "launch_family", "load_recipe", "plan_seeds"]
