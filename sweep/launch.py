"""Launch and resume sweeps: a Ray Tune Tuner with TuneBOHB and HyperBandForBOHB (or ASHA / random search
on the same budget, for comparisons) over a search space from search_spaces/ and a trainable from trainables/.

The experiment folder <storage>/<name>/ holds Ray's own files plus babysweep's:
    sweep.json     how the sweep was launched (space, data, trainable, algorithm, resources, seed)
    space.yaml     a copy of the search space, so a resume does not depend on the original file
    results.csv, history.csv   the tidy results table (sweep/results.py)
    driver.json    the driver process, so `status` can tell a running sweep from a stopped one
"""
import functools
import importlib
import json
import os
import shutil
import socket
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from search_spaces.loader import load_space
from .errors import SweepError

TRAINABLES = {"pretrain": "trainables.pretrain:pretrain", "finetune": "trainables.finetune:finetune"}
ALGOS = ("bohb", "asha", "random")
DEFAULT_STORAGE = "runs"


@dataclass
class SweepSpec:
    space: str
    data: str | None = None
    trainable: str = "pretrain"
    algo: str = "bohb"
    samples: int = 16
    max_concurrent: int | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    reduction_factor: float = 3.0
    seed: int = 0
    name: str | None = None
    storage: str = DEFAULT_STORAGE
    address: str | None = None
    wandb: str | None = None        # None, "offline" or "online"
    extra: dict = field(default_factory=dict)  # merged into every trial's config (e.g. the checkpoint to fine-tune)


def resolve_trainable(spec: str):
    """'pretrain', 'finetune' or 'package.module:function' -> the function."""
    target = TRAINABLES.get(spec, spec)
    module_name, sep, fn_name = target.partition(":")
    if not sep or not module_name or not fn_name:
        raise SweepError(f"--trainable {spec}: unknown trainable (use {', '.join(TRAINABLES)} or package.module:function)")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise SweepError(f"--trainable {spec}: cannot import {module_name} ({e})") from None
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise SweepError(f"--trainable {spec}: {module_name} has no function {fn_name}")
    return fn


def accepted_names(fn):
    """The config keys a trainable declares (trainables.pretrain.ACCEPTED), or None when it declares none."""
    return getattr(importlib.import_module(fn.__module__), "ACCEPTED", None)


def space_config(space_file, config):
    return load_space(space_file).to_trainable_config(config)


def run_trial(config, space_file, trainable_spec, extra):
    """What each Ray Tune trial runs: searcher config -> trainable arguments -> the trainable."""
    resolve_trainable(trainable_spec)({**space_config(space_file, config), **extra})


def run_rerun_trial(config, trainable_spec, extra):
    """What each trial of a re-run experiment runs: a fixed configuration (sweep/rerun.py), no searcher."""
    resolve_trainable(trainable_spec)({**rerun_config(config), **extra})


def rerun_config(config):
    return {k: v for k, v in config["run"].items() if k != "source_trial_id"}


def rerun_row(config):
    return dict(config["run"])


def is_uri(storage: str) -> bool:
    return "://" in str(storage)


def experiment_dir(storage, name) -> Path:
    if is_uri(storage):
        raise SweepError(f"--storage {storage}: babysweep keeps its results table next to Ray's files and needs a "
                         f"shared filesystem path (mount the bucket, e.g. with a FUSE driver)")
    return Path(storage).expanduser().resolve() / name


def check_storage(storage: str) -> Path:
    root = Path(storage).expanduser().resolve()
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=root, prefix=".write-test-")
        probe.close()
    except OSError as e:
        raise SweepError(f"--storage {storage}: not writable ({e.strerror or e})") from None
    return root


def check_address(address: str):
    """Fail fast on an unreachable head, instead of letting ray.init retry for minutes."""
    target = os.environ.get("RAY_ADDRESS", "") if address == "auto" else address
    if target in ("", "auto", "local") or target.startswith("ray://"):
        return  # Ray resolves these itself and fails fast when no cluster is running
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise SweepError(f"--address {address}: expected auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as e:
        where = f" (RAY_ADDRESS={target})" if target != address else ""
        raise SweepError(f"--address {address}{where}: cannot reach a Ray head there ({e.strerror or e})") from None


@contextmanager
def ray_session(address=None, num_cpus=None):
    """Join a cluster (address) or start a private local Ray with its own temp dir; stop only what we started."""
    import ray

    if ray.is_initialized():
        yield
        return
    temp_dir = None
    try:
        if address:
            check_address(address)
            try:
                ray.init(address=address, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise SweepError(f"--address {address}: cannot join the Ray cluster ({str(e).splitlines()[0]})") from None
        else:
            # A short path: Ray puts unix sockets under it (107-byte limit)
            temp_dir = tempfile.mkdtemp(prefix="bsray-", dir="/tmp")
            ray.init(num_cpus=num_cpus, include_dashboard=False, _temp_dir=temp_dir, log_to_driver=False)
        yield
    finally:
        if ray.is_initialized():
            ray.shutdown()
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)


def make_searcher(spec: SweepSpec, space):
    import numpy as np

    from .bohb import ResumableTuneBOHB

    # hpbandster draws its random-vs-model choice from numpy's global generator: seed it too
    np.random.seed(spec.seed)
    # ASHA and random search sample the very same priors: BOHB's sampler with model-based picks turned off
    bohb_config = None if spec.algo == "bohb" else {"random_fraction": 1.0}
    return ResumableTuneBOHB(space=space.to_configspace(seed=spec.seed), bohb_config=bohb_config, metric=space.metric,
                    mode=space.mode, seed=spec.seed, max_concurrent=spec.max_concurrent or 0)


def make_scheduler(spec: SweepSpec, space):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    from .bohb import ResumableHyperBandForBOHB

    if spec.algo == "bohb":
        return ResumableHyperBandForBOHB(time_attr="epoch", metric=space.metric, mode=space.mode, max_t=space.budget_max,
                                reduction_factor=spec.reduction_factor)
    if spec.algo == "asha":
        return ASHAScheduler(time_attr="epoch", metric=space.metric, mode=space.mode, max_t=space.budget_max,
                             grace_period=space.budget_min,
                             reduction_factor=spec.reduction_factor)
    return FIFOScheduler()


def trainable_with_resources(sweep: dict, exp: Path):
    from ray import tune

    if sweep.get("kind") == "rerun":
        fn = tune.with_parameters(run_rerun_trial, trainable_spec=sweep["trainable"], extra=sweep["extra"])
    else:
        fn = tune.with_parameters(run_trial, space_file=str(exp / "space.yaml"), trainable_spec=sweep["trainable"],
                                  extra=sweep["extra"])
    resources = {"cpu": sweep["cpus_per_trial"], "gpu": sweep["gpus_per_trial"]}
    return tune.with_resources(fn, resources)


def callbacks(sweep: dict, exp: Path):
    from .results import ResultsTable

    to_config = rerun_row if sweep.get("kind") == "rerun" else functools.partial(space_config, str(exp / "space.yaml"))
    cbs = [ResultsTable(exp, to_config, sweep["gpus_per_trial"], extra_columns={"source_trial_id": "source_trial_id"})]
    if sweep.get("wandb"):
        from ray.air.integrations.wandb import WandbLoggerCallback

        os.environ["WANDB_MODE"] = sweep["wandb"]  # offline needs it in the driver and in the callback
        cbs.append(WandbLoggerCallback(project=f"babysweep-{sweep['name']}", mode=sweep["wandb"]))
    return cbs


def write_driver_file(exp: Path):
    (exp / "driver.json").write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                                 "started": time.time()}) + "\n")


def validate(spec: SweepSpec):
    """Everything that can be checked before Ray starts. Returns (space, trainable function)."""
    from trainables.data.prepared import open_prepared

    if spec.algo not in ALGOS:
        raise SweepError(f"--algo {spec.algo}: unknown algorithm (use {', '.join(ALGOS)})")
    fn = resolve_trainable(spec.trainable)
    space = load_space(spec.space)
    accepted = accepted_names(fn)
    if accepted is not None:
        space.check_names(accepted, spec.trainable)
    if spec.data is not None:
        open_prepared(spec.data)
    if spec.samples < 1:
        raise SweepError(f"--samples {spec.samples}: must be at least 1")
    if spec.cpus_per_trial <= 0 or spec.gpus_per_trial < 0:
        raise SweepError("--cpus-per-trial must be > 0 and --gpus-per-trial >= 0")
    if spec.address:
        check_address(spec.address)
    return space, fn


def new_experiment_dir(storage, name, overwrite, what="sweep") -> Path:
    """An empty experiment folder for `name`; an existing one is replaced only with overwrite."""
    check_storage(storage)
    exp = experiment_dir(storage, name)
    if exp.exists() and any(exp.iterdir()):
        if not overwrite:
            raise SweepError(f"{what} {name!r} already exists in {exp.parent}; continue it with "
                             f"`babysweep resume {name}` or start afresh with --overwrite")
        shutil.rmtree(exp)
    exp.mkdir(parents=True)
    return exp


def launch(spec: SweepSpec, overwrite=False, verbose=1):
    """Start a new sweep. Returns the experiment folder."""
    space, _ = validate(spec)
    spec.name = spec.name or f"{space.name}-{spec.algo}-{time.strftime('%Y%m%d-%H%M%S')}"
    exp = new_experiment_dir(spec.storage, spec.name, overwrite, "sweep")
    sweep = asdict(spec)
    sweep["space_source"] = str(Path(spec.space).resolve())
    if spec.data is not None:
        sweep["data"] = str(Path(spec.data).resolve())
        sweep["extra"] = {"data": sweep["data"], **spec.extra}
    sweep["storage"] = str(Path(spec.storage).expanduser().resolve())
    shutil.copyfile(space.path, exp / "space.yaml")
    (exp / "sweep.json").write_text(json.dumps(sweep, indent=2) + "\n")
    try:
        with ray_session(spec.address):
            fit(sweep, exp, space, verbose)
    except SweepError:
        if not tune_state_exists(exp):  # Ray never started this sweep: leave nothing behind
            shutil.rmtree(exp, ignore_errors=True)
        raise
    return exp


def tune_state_exists(exp: Path) -> bool:
    return any(exp.glob("experiment_state-*.json"))


def trial_name(trial) -> str:
    return f"trial_{trial.trial_id}"


def fit(sweep, exp, space, verbose, restore=False, retry_errored=False):
    from ray import tune

    # Save Ray's experiment state every few seconds (Ray's default adapts up to minutes): a killed driver then
    # loses little, and reconcile_with_table() restores what the results table saw finish in between
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "5")
    write_driver_file(exp)
    trainable = trainable_with_resources(sweep, exp)
    if restore:
        tuner = tune.Tuner.restore(str(exp), trainable=trainable, resume_unfinished=True,
                                   resume_errored=retry_errored, restart_errored=False)
    elif sweep.get("kind") == "rerun":
        # Fixed configurations at their full budget: a grid, no searcher, no early stopping
        tuner = tune.Tuner(
            trainable, param_space={"run": tune.grid_search(sweep["runs"])},
            # No max_concurrent_trials: Ray's grid generator saves its live-trial count separately from the trial
            # list, and after a crash a count of trials that no longer exist blocks it for good. Resources limit
            # concurrency instead (--cpus-per-trial, --gpus-per-trial).
            tune_config=tune.TuneConfig(num_samples=1, reuse_actors=True,
                                        trial_name_creator=trial_name, trial_dirname_creator=trial_name),
            run_config=tune.RunConfig(name=sweep["name"], storage_path=sweep["storage"], verbose=verbose,
                                      callbacks=callbacks(sweep, exp), checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                                      failure_config=tune.FailureConfig(max_failures=0)),
        )
    else:
        spec = SweepSpec(**{k: sweep[k] for k in SweepSpec.__dataclass_fields__})
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(search_alg=make_searcher(spec, space), scheduler=make_scheduler(spec, space),
                                        num_samples=spec.samples, reuse_actors=True,
                                        # the concurrency limit lives in the searcher (TuneBOHB's max_concurrent):
                                        # Ray's generic limiter would also count paused trials
                                        trial_name_creator=trial_name, trial_dirname_creator=trial_name),
            run_config=tune.RunConfig(
                name=spec.name, storage_path=sweep["storage"], verbose=verbose, callbacks=callbacks(sweep, exp),
                # the latest checkpoint resumes a paused trial; the final one holds the model
                checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                failure_config=tune.FailureConfig(max_failures=0)),
        )
    try:
        return tuner.fit()
    finally:
        (exp / "driver.json").unlink(missing_ok=True)
        # Ray's background copy of its staging folder can catch a searcher state mid-write: drop those leftovers
        for leftover in exp.glob(".*-tmp-searcher-state-*"):
            leftover.unlink(missing_ok=True)


def load_sweep(name, storage=DEFAULT_STORAGE) -> tuple[dict, Path]:
    exp = experiment_dir(storage, name)
    path = exp / "sweep.json"
    if not path.is_file():
        raise SweepError(f"no sweep named {name!r} in {exp.parent}" if exp.parent.is_dir()
                         else f"no sweep named {name!r}: {exp.parent} does not exist")
    return json.loads(path.read_text()), exp


def reconcile_with_table(exp: Path) -> list[str]:
    """Mark as finished, in Ray's saved experiment state, the trials that babysweep's table shows finished.

    Ray writes its experiment state to a staging folder and copies it to storage in the background, so a
    driver killed at the wrong moment leaves a stored state a step or two old: a trial HyperBand had just
    stopped would come back as PAUSED and train again. The results table is written only after Ray processed
    the stop (sweep/results.py), so it is the later truth for that one fact. Returns the trial ids changed."""
    from .results import read_table, write_table

    table, states = exp / "results.csv", sorted(exp.glob("experiment_state-*.json"))
    if not table.exists() or not states:
        return []
    finished = set(read_table(table).query("state == 'TERMINATED'")["trial_id"].astype(str))
    path = states[-1]
    state = json.loads(path.read_text())
    changed = []
    for entry in state["trial_data"]:
        trial = json.loads(entry[0])
        if trial["trial_id"] in finished and trial["status"] not in ("TERMINATED", "ERROR"):
            trial["status"] = "TERMINATED"
            entry[0] = json.dumps(trial)
            changed.append(trial["trial_id"])
    if changed:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, path)
    # The other way round: a trial the table saw start but Ray's stored state never recorded is gone for
    # good (Ray will not run it again; its searcher makes another suggestion instead). Say so in the table.
    known = {json.loads(entry[0])["trial_id"] for entry in state["trial_data"]}
    df = read_table(table)
    lost = ~df["trial_id"].isin(known) & ~df["state"].isin(["TERMINATED", "ERROR", "LOST"])
    if lost.any():
        df.loc[lost, "state"] = "LOST"
        write_table(df, table)
        print(f"{int(lost.sum())} trial(s) started after Ray's last stored state and cannot be resumed: marked LOST "
              f"({', '.join(df.loc[lost, 'trial_id'])})")
    return changed


def resume(name, storage=DEFAULT_STORAGE, retry_errored=False, address=None, verbose=1):
    from ray import tune

    sweep, exp = load_sweep(name, storage)
    if not tune.Tuner.can_restore(str(exp)):
        raise SweepError(f"sweep {name!r}: Ray has not saved an experiment state in {exp} yet; launch it again "
                         f"with --overwrite")
    if sweep.get("data"):
        from trainables.data.prepared import open_prepared

        open_prepared(sweep["data"])
    changed = reconcile_with_table(exp)
    if changed:
        print(f"{len(changed)} trial(s) had finished after Ray's last stored state: kept as finished "
              f"({', '.join(changed)})")
    with ray_session(address or sweep.get("address")):
        fit(sweep, exp, load_space(exp / "space.yaml"), verbose, restore=True, retry_errored=retry_errored)
        if sweep.get("kind") == "rerun":
            from .rerun import missing_runs

            missing = missing_runs(sweep, exp)
            if missing:
                # Runs Ray's stored state had not recorded yet when the driver died: start them now
                print(f"{len(missing)} planned re-run(s) were not in Ray's stored state: starting them")
                fit({**sweep, "runs": missing}, exp, None, verbose)
    return exp
