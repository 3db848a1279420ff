"""Running on Ray: the session (join a cluster, or a private local Ray) and `fit`, which runs ready-made Tuner
parts in an experiment folder. Knows no experiment kind: the kinds (sweep/kinds/) build the parts."""
import os
import shutil
import socket
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SweepError
from .folder import remove_driver_file, write_driver_file


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


def trial_name(trial) -> str:
    return f"trial_{trial.trial_id}"


def relocate_callbacks(tuner, exp: Path):
    """Ray restores the callbacks pickled at launch, paths included: point ours at where the folder is now."""
    internal = getattr(tuner, "_local_tuner", None)  # Ray has no public accessor for a restored run config
    for callback in internal.get_run_config().callbacks or [] if internal else []:
        if hasattr(callback, "relocate"):
            callback.relocate(exp)


def fit(exp: Path, parts: TunerParts, verbose=1, restore=False, retry_errored=False):
    """Run (or, with restore, continue) the Ray Tune experiment in `exp` from ready-made parts."""
    from ray import tune

    # Save Ray's experiment state every few seconds (Ray's default adapts up to minutes): a killed driver then
    # loses little, and folder.reconcile_with_table() restores what the results table saw finish in between
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "5")
    write_driver_file(exp)
    if restore:
        tuner = tune.Tuner.restore(str(exp), trainable=parts.trainable, resume_unfinished=True,
                                   resume_errored=retry_errored, restart_errored=False)
        relocate_callbacks(tuner, exp)
    else:
        tuner = tune.Tuner(
            parts.trainable, param_space=parts.param_space,
            tune_config=tune.TuneConfig(search_alg=parts.search_alg, scheduler=parts.scheduler,
                                        num_samples=parts.num_samples, reuse_actors=True,
                                        trial_name_creator=trial_name, trial_dirname_creator=trial_name,
                                        **parts.tune_options),
            run_config=tune.RunConfig(
                name=exp.name, storage_path=str(exp.parent), verbose=verbose, callbacks=parts.callbacks,
                # the latest checkpoint resumes a paused trial; the final one holds the model
                # (and with keep_best_by, the best one by that metric: Ray always keeps the latest too)
                checkpoint_config=tune.CheckpointConfig(
                    num_to_keep=2, checkpoint_score_attribute=parts.keep_best_by,
                    checkpoint_score_order=parts.keep_best_order) if parts.keep_best_by else tune.CheckpointConfig(num_to_keep=2),
                failure_config=tune.FailureConfig(max_failures=0)),
        )
    try:
        return tuner.fit()
    finally:
        remove_driver_file(exp)
        # Ray's background copy of its staging folder can catch a searcher state mid-write: drop those leftovers
        for leftover in exp.glob(".*-tmp-searcher-state-*"):
            leftover.unlink(missing_ok=True)
