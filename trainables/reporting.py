"""How a trainable reports metrics and checkpoints: through Ray Tune inside a sweep, or to a local
callback when it runs on its own (`babysweep train`, tests). A trainable calls `report` and
`restored_checkpoint` and never needs to know which."""
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

_local = None  # the LocalRun of run_local, when not inside Ray Tune


def in_tune() -> bool:
    if "ray" not in sys.modules:  # not in a Ray worker; importing Ray just to ask would cost ~1 s and 120 MB
        return False
    try:
        from ray.train._internal.session import get_session  # Ray has no public "am I in a trial" call
    except ImportError:
        return False
    return get_session() is not None


class StopTrial(Exception):
    """Raised by a local run's reporter to end a trial early, like a scheduler pausing or stopping it."""


class LocalRun:
    def __init__(self, checkpoint_root: Path, restore_from=None, on_report=None, stop_after=None, on_step=None,
                 keep_last=None):
        self.checkpoint_root = Path(checkpoint_root)
        self.restore_from = Path(restore_from) if restore_from else None
        self.on_report = on_report
        self.on_step = on_step
        self.stop_after = stop_after  # number of reports after which the run is cut short (a "pause")
        self.keep_last = keep_last  # checkpoints kept on disk (None: all)
        self.results = []
        self.checkpoints = []

    def report(self, metrics, checkpoint_dir):
        path = None
        if checkpoint_dir is not None:
            path = self.checkpoint_root / f"checkpoint_{len(self.results):06d}"
            shutil.rmtree(path, ignore_errors=True)
            shutil.copytree(checkpoint_dir, path)
            self.checkpoints.append(path)
            if self.keep_last is not None:
                for old in self.checkpoints[:-self.keep_last]:
                    shutil.rmtree(old, ignore_errors=True)
        self.results.append(dict(metrics))
        if self.on_report:
            self.on_report(metrics)
        if self.stop_after is not None and len(self.results) >= self.stop_after:
            raise StopTrial


def run_local(trainable, config, checkpoint_root, restore_from=None, on_report=None, stop_after=None, on_step=None,
              keep_last=None) -> LocalRun:
    """Run a trainable outside Ray Tune. Checkpoints are copied to checkpoint_root/checkpoint_NNNNNN."""
    global _local
    run = LocalRun(checkpoint_root, restore_from, on_report, stop_after, on_step, keep_last)
    _local, previous = run, _local
    try:
        trainable(config)
    except StopTrial:
        pass
    finally:
        _local = previous
    return run


def report(metrics: dict, checkpoint_dir=None) -> None:
    """Report metrics, with the checkpoint in `checkpoint_dir` (copied away; the caller may delete it)."""
    if in_tune():
        from ray import tune

        checkpoint = tune.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
        tune.report(metrics, checkpoint=checkpoint)
    elif _local is not None:
        _local.report(metrics, checkpoint_dir)


def progress(step: int, total: int) -> None:
    """Per-step progress, for a progress bar outside a sweep (Ray Tune shows its own trial table)."""
    if _local is not None and _local.on_step is not None:
        _local.on_step(step, total)


@contextmanager
def restored_checkpoint():
    """The folder of the checkpoint to resume from, or None for a fresh start."""
    if in_tune():
        from ray import tune

        checkpoint = tune.get_checkpoint()
        if checkpoint is None:
            yield None
        else:
            with checkpoint.as_directory() as folder:
                yield Path(folder)
    else:
        yield _local.restore_from if _local is not None else None


@contextmanager
def scratch_dir():
    folder = Path(tempfile.mkdtemp(prefix="babysweep-ckpt-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
