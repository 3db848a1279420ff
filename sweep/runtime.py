"""Running on Ray: the session (join a cluster, or a private local Ray) and `fit`, which runs ready-made Tuner
parts in an experiment folder. Knows no experiment kind: the kinds (sweep/kinds/) build the parts."""
import logging
import os
import shutil
import socket
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from trainables.files import remove_orphaned_scratch

from . import failures
from .errors import Interrupted, SweepError
from .folder import driver_lock
from .stopping import stoppable


@dataclass
class TunerParts:
    """What a kind hands to `fit`: the trainable (with its resources) and the Tuner's configuration."""
    trainable: object                      # tune.with_resources(...)
    callbacks: list
    param_space: dict | None = None
    search_alg: object = None
    scheduler: object = None
    num_samples: int = 1
    tune_options: dict = field(default_factory=dict)  # further tune.TuneConfig arguments
    keep_best_by: str | None = None  # keep the best checkpoint by this metric, besides the latest
    keep_best_order: str = "min"     # ... lowest first (a loss) or "max" (a score)
    shown: list | None = None        # the configuration names the progress line shows (None: all)
    total_trials: int | None = None  # the trials the run will have (default num_samples; a grid has more)


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


def ray_token_available() -> bool:
    """Whether this process can give a Ray cluster its token (where Ray's token auth looks for it)."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return True
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token"
    return Path(path).expanduser().is_file()


def join_error(address: str, e: Exception) -> str:
    """One line for a failed ray.init(address=...). Ray 2.60 clusters started with `ray start --head` use token
    authentication: a driver that joins by HOST:PORT without RAY_AUTH_MODE=token gets a plain "Failed to connect"
    after 20 s, one without the token an AuthenticationError (docs/cluster.md)."""
    first = str(e).splitlines()[0] if str(e) else type(e).__name__
    auth_mode = os.environ.get("RAY_AUTH_MODE", "")
    fix = "see docs/cluster.md, \"Token authentication\""
    if type(e).__name__ == "AuthenticationError" or "authentication" in first.lower():
        return (f"--address {address}: the Ray cluster refused this driver's authentication "
                f"({first.split('. ')[0]}); give it the cluster's token: copy the head's ~/.ray/auth_token here, or "
                f"set RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH), with RAY_AUTH_MODE=token; {fix}")
    if auth_mode != "token":
        token = "" if ray_token_available() else " and the head's token in ~/.ray/auth_token (or RAY_AUTH_TOKEN)"
        return (f"--address {address}: cannot join the Ray cluster ({first}); if it uses token authentication "
                f"(the default of `ray start --head` in Ray 2.60), this driver needs RAY_AUTH_MODE=token{token}; "
                f"{fix}")
    # a wrong token gives the same plain "Failed to connect" as a head that is down
    return (f"--address {address}: cannot join the Ray cluster ({first}); is the head up, and is this driver's token "
            f"the head's (~/.ray/auth_token there)? {fix}")


RAY_TEMP_PREFIX = "bsray-"
CHECKPOINTS_KEPT = 2  # each trial's latest (a paused trial resumes from it) and one more: the final, or its best


def private_ray_temp_dir() -> str:
    """A new temp dir for a private local Ray: under RAY_TMPDIR when set (Ray's own variable), else /tmp, as a short
    path (Ray puts unix sockets under it: a 107-byte limit). Its name carries this driver's PID, so that the folders
    of drivers killed outright (SIGKILL leaves Ray no time to clean up) are removed by the next one."""
    root = os.environ.get("RAY_TMPDIR") or "/tmp"
    remove_orphaned_scratch(RAY_TEMP_PREFIX, where=root)
    try:
        return tempfile.mkdtemp(prefix=f"{RAY_TEMP_PREFIX}{os.getpid()}-", dir=root)
    except OSError as e:
        where = "RAY_TMPDIR " if os.environ.get("RAY_TMPDIR") else ""
        raise SweepError(f"{where}{root}: cannot make Ray's temp folder there ({e.strerror or e})") from None


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
                raise SweepError(join_error(address, e)) from None
        else:
            temp_dir = private_ray_temp_dir()
            ray.init(num_cpus=num_cpus, include_dashboard=False, _temp_dir=temp_dir, log_to_driver=False)
        yield
    finally:
        if ray.is_initialized():
            ray.shutdown()
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)


def trial_name(trial) -> str:
    return f"trial_{trial.trial_id}"


def restored_callbacks(tuner) -> list:
    """The callbacks list of a restored Tuner's run config (Ray has no public accessor for it)."""
    from .ray_compat import run_config

    config = run_config(tuner)
    if config.callbacks is None:
        config.callbacks = []
    return config.callbacks


def connect_restored(tuner):
    """A restored Tuner's searcher and scheduler (as tuner.pkl had them) joined as a new run's are (sweep.bohb.connect):
    a folder saved before the compute budget was a Searcher wrapper gets the wrapper, its scheduler its searcher."""
    from .bohb import connect
    from .ray_compat import tune_config

    config = tune_config(tuner)
    config.search_alg = connect(config.search_alg, config.scheduler)


def relocate_callbacks(tuner, exp: Path):
    """Ray restores the callbacks pickled at launch, paths included: point ours at where the folder is now."""
    for callback in restored_callbacks(tuner):
        if hasattr(callback, "relocate"):
            callback.relocate(exp)


def progress_line(parts: TunerParts):
    """The progress line of a run of `parts`, showing configurations as the results table records them."""
    from .progress import ProgressLine
    from .results import ResultsTable

    table = next((c for c in parts.callbacks if isinstance(c, ResultsTable)), None)
    if table is None:
        return None
    return ProgressLine(parts.total_trials or parts.num_samples, table.to_config, table.metric, table.mode, shown=parts.shown)


def ray_notes_on_stopping(record) -> bool:
    """A logging filter: Ray's own lines about a run ended early, which babysweep says in its own terms."""
    return not str(record.msg).startswith(("Stop signal received", "Trials did not complete",
                                           "Experiment has been interrupted"))


def ray_tracebacks(record) -> bool:
    """A logging filter for Ray's console handler: Ray Tune's tracebacks of failed trials and failed saves, which
    babysweep reports as one line each (the status summary, with each trial's full text kept in <exp>/errors/;
    a full disk as one StorageError). --verbose shows them."""
    if not record.name.startswith("ray.tune"):
        return True
    if record.levelno < logging.ERROR:  # Ray's own post-run analysis of trials that never reported (interrupted)
        return not str(record.msg).startswith("Failed to fetch metrics")
    return not (record.exc_info or "Traceback" in str(record.getMessage()))


def fit(exp: Path, parts: TunerParts, verbose=1, restore=False, retry_errored=False,
        max_failures=failures.DEFAULT_MAX_FAILURES, fail_fast=failures.DEFAULT_FAIL_FAST):
    """Run (or, with restore, continue) the Ray Tune experiment in `exp` from ready-made parts. A trial that loses
    its worker or node is retried from its latest checkpoint up to `max_failures` times, and the run ends early when
    its first `fail_fast` failing trials all fail alike before any report (sweep/failures.py).
    verbose: 0 nothing, 1 a progress line every few seconds (sweep/progress.py), 2 Ray's own trial tables."""
    with driver_lock(exp):
        try:
            return _fit(exp, parts, verbose, restore, retry_errored, max_failures, fail_fast)
        except Interrupted as e:
            e.experiment = exp  # for the command line's "continue with babysweep resume NAME"
            raise


def _fit(exp, parts, verbose, restore, retry_errored, max_failures, fail_fast):
    # Save Ray's experiment state every few seconds (Ray's default adapts up to minutes): a killed driver then
    # loses little, and folder.reconcile_with_table() restores what the results table saw finish in between
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "5")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")  # wanted, not a warning
    failures.install(max_failures, fail_fast, exp)
    try:
        with ray_console(verbose):
            tuner = tuner_of(exp, parts, verbose, restore, retry_errored, max_failures)
            with stoppable(exp):  # Ctrl-C, SIGTERM, fail-fast, a full disk: every trial saved as it stood (sweep/stopping.py)
                return tuner.fit()
    finally:
        # Ray's background copy of its staging folder can catch a searcher state mid-write: drop those leftovers
        for leftover in exp.glob(".*-tmp-searcher-state-*"):
            leftover.unlink(missing_ok=True)


def tuner_of(exp, parts, verbose, restore, retry_errored, max_failures):
    """The Tuner of a new run of `parts` in `exp`, or the one Ray restores from `exp` with our callbacks."""
    from ray import tune

    from .ray_compat import run_config

    progress = progress_line(parts) if verbose == 1 else None
    if restore:
        tuner = tune.Tuner.restore(str(exp), trainable=parts.trainable, resume_unfinished=True,
                                   resume_errored=retry_errored, restart_errored=False)
        connect_restored(tuner)
        callbacks = restored_callbacks(tuner)
        relocate_callbacks(tuner, exp)
        from .progress import ProgressLine

        callbacks[:] = [c for c in callbacks if not isinstance(c, ProgressLine)] + ([progress] if progress else [])
        # Ray's verbosity is not restored from tuner.pkl: set for this run
        run_config(tuner).verbose = 2 if verbose >= 2 else 0
        return tuner
    from .bohb import connect

    return tune.Tuner(
        parts.trainable, param_space=parts.param_space,
        # the compute budget wraps the searcher, the scheduler is handed the searcher it feeds (sweep.bohb.connect)
        tune_config=tune.TuneConfig(search_alg=connect(parts.search_alg, parts.scheduler),
                                    scheduler=parts.scheduler,
                                    num_samples=parts.num_samples, reuse_actors=True,
                                    trial_name_creator=trial_name, trial_dirname_creator=trial_name,
                                    **parts.tune_options),
        run_config=tune.RunConfig(
            name=exp.name, storage_path=str(exp.parent), verbose=2 if verbose >= 2 else 0,
            callbacks=parts.callbacks + ([progress] if progress else []),
            # the latest checkpoint resumes a paused trial; the final one holds the model
            # (and with keep_best_by, the best one by that metric: Ray always keeps the latest too)
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=CHECKPOINTS_KEPT, checkpoint_score_attribute=parts.keep_best_by,
                checkpoint_score_order=parts.keep_best_order) if parts.keep_best_by
            else tune.CheckpointConfig(num_to_keep=CHECKPOINTS_KEPT),
            failure_config=tune.FailureConfig(max_failures=max_failures)),
    )


@contextmanager
def ray_console(verbose):
    """What Ray prints while a run is restored and runs: at verbose 2 all of it; below, babysweep's own progress
    line and one-line summaries stand for Ray's notes and tracebacks (ray_notes_on_stopping, ray_tracebacks)."""
    if verbose >= 2:
        yield
        return
    saved = {name: os.environ.get(name) for name in ("RAY_AIR_NEW_OUTPUT", "RAY_IGNORE_UNHANDLED_ERRORS")}
    # Ray's newer console output prints its experiment box and a TensorBoard hint into its temporary folder even
    # when silent; its older one is silent at verbose 0. Ours (the progress line) or nothing: the older one
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # the train() calls Ray abandons when it stops a failed trial's actor: reported by the trial's own error
    os.environ.setdefault("RAY_IGNORE_UNHANDLED_ERRORS", "1")
    ray_tune, notes = logging.getLogger("ray.tune"), logging.getLogger("ray.tune.tune")
    handlers, level = logging.getLogger("ray").handlers, ray_tune.level
    ray_tune.setLevel(logging.WARNING)
    notes.addFilter(ray_notes_on_stopping)
    for handler in handlers:
        handler.addFilter(ray_tracebacks)
    try:
        yield
    finally:
        ray_tune.setLevel(level)
        notes.removeFilter(ray_notes_on_stopping)
        for handler in handlers:
            handler.removeFilter(ray_tracebacks)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
