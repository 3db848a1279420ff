"""Where a trainable's reports go and its restored checkpoint comes from: a `Reporter` handed to the trainable.

`TuneReporter` talks to Ray Tune inside a sweep; `LocalRun` (made by `run_local`) keeps the reports and copies of
the checkpoints on its own, for `babysweep train`, fine-tune-all, tests and benchmarks. A trainable is a plain
function `trainable(config, reporter=None)`, None meaning Ray Tune inside a trial (Ray calls it with the config
alone) and no reports elsewhere."""
import shutil
import sys
from abc import ABC, abstractmethod
from contextlib import contextmanager
from pathlib import Path


def in_tune() -> bool:
    """Whether this process runs a Ray Tune trial now."""
    if "ray" not in sys.modules:  # not in a Ray worker; importing Ray just to ask would cost ~1 s and 120 MB
        return False
    import warnings

    from ray import tune

    with warnings.catch_warnings():  # outside a trial Ray warns once that the call is meant for inside one
        warnings.simplefilter("ignore")
        return tune.get_context().get_trial_id() is not None


def budget_epochs(num_epochs: float, budget_step: float) -> list:
    """The epochs a trainable reports at: budget_step, 2 * budget_step, ... below num_epochs, then num_epochs itself
    (a last step shorter than budget_step included). Each trainable turns them into its own report points."""
    epochs, k = [], 1
    while k * budget_step < num_epochs - 1e-9:
        epochs.append(k * budget_step)
        k += 1
    return epochs + [num_epochs]


class Reporter(ABC):
    """What a trainable needs from whoever runs it."""

    @abstractmethod
    def report(self, metrics: dict, checkpoint_dir: Path | None = None) -> None:
        """Report metrics, with the checkpoint in `checkpoint_dir` (copied away: the caller may delete it)."""

    @abstractmethod
    def restored_checkpoint(self):
        """A context manager: the folder of the checkpoint to resume from, or None for a fresh start."""

    def progress(self, step: int, total: int) -> None:
        """Called after every optimizer step (for a progress bar)."""

    def cpus(self) -> int | None:
        """The CPUs given to this trial, when the runner rations them."""
        return None


class TuneReporter(Reporter):
    """Reports to Ray Tune, with each checkpoint as a ray.tune.Checkpoint; resumes from Tune's checkpoint."""

    def report(self, metrics, checkpoint_dir=None):
        import ray
        from ray import tune

        checkpoint = tune.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
        # the node, for the results table: Ray adds its address, which two nodes on one machine share
        tune.report({**metrics, "node_id": ray.get_runtime_context().get_node_id()[:12]}, checkpoint=checkpoint)

    @contextmanager
    def restored_checkpoint(self):
        from ray import tune

        checkpoint = tune.get_checkpoint()
        if checkpoint is None:
            yield None
        else:
            with checkpoint.as_directory() as folder:
                yield Path(folder)

    def cpus(self):
        if not in_tune():
            return None
        import ray

        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
        return max(1, int(cpus)) if cpus else None

    # Ray shows its own trial table, so no per-step progress


class Unreported(Reporter):
    """A direct call outside any runner: the trainable trains and writes its output_dir; reports go nowhere."""

    def report(self, metrics, checkpoint_dir=None):
        pass

    @contextmanager
    def restored_checkpoint(self):
        yield None


def default_reporter() -> Reporter:
    """The reporter of a trainable called without one: Ray Tune's inside a trial, none elsewhere."""
    return TuneReporter() if in_tune() else Unreported()


class StopTrial(Exception):
    """Raised by a local run's reporter to end a trial early, like a scheduler pausing or stopping it."""


class LocalRun(Reporter):
    """A trial outside Ray Tune: its reports in `results`, its checkpoints copied to
    checkpoint_root/checkpoint_NNNNNN (listed in `checkpoints`)."""

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

    def report(self, metrics, checkpoint_dir=None):
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

    @contextmanager
    def restored_checkpoint(self):
        yield self.restore_from

    def progress(self, step, total):
        if self.on_step is not None:
            self.on_step(step, total)


def run_local(trainable, config, checkpoint_root, restore_from=None, on_report=None, stop_after=None, on_step=None,
              keep_last=None) -> LocalRun:
    """Run `trainable(config, reporter=<a LocalRun>)` outside Ray Tune, resuming from the checkpoint folder
    `restore_from` if given; returns the LocalRun with its results and checkpoints."""
    run = LocalRun(checkpoint_root, restore_from, on_report, stop_after, on_step, keep_last)
    try:
        trainable(config, reporter=run)
    except StopTrial:
        pass
    return run
