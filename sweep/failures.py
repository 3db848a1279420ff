"""How a trial fails, and what babysweep does about it: retry what was not the trial's fault, keep the error text.

The retry policy. A trial that fails because its worker process or its node was lost (a preempted node, an
out-of-memory kill, a dead raylet) is retried from its latest checkpoint, on any node with the resources, up to
`--max-failures` times (default 3). A trial that fails by its own fault is not retried: a `UserError` raised by
the trainable (a ConfigError, a DataError) would fail the same way every time. A diverged run is not a failure
at all: the trainable reports `diverged` and ends normally.

Ray Tune retries every failure alike (FailureConfig.max_failures) and has no per-exception hook, so `install`
wraps two methods of Ray's Trial, in the driver process only:
- `handle_error` (Ray counts the failure and writes the error text): also remember, per trial, a one-line
  summary of the error and whether it was the trial's own fault;
- `should_recover` (Ray's "retry?"): no for the trial's own fault; otherwise Ray's rule with this run's
  --max-failures, so that trials restored from an experiment launched with another limit (or by an earlier
  babysweep, which ran with max_failures=0) follow the limit of the command now running.

The error text. Ray writes it into the trial's staging folder under its temporary session folder, which does
not outlive the cluster; the results-table callback (sweep/results.py) copies it to <experiment>/errors/<trial>.txt
(`error_file`) and puts the summary in the table's `error` column, with the count of failures in `failures`."""
import os
from pathlib import Path

ERRORS_DIR = "errors"
DEFAULT_MAX_FAILURES = 3
DEFAULT_FAIL_FAST = 3  # trials failing alike before any report that end a run (0: never)


class RetryPolicy:
    """What the running driver decided for its trials: the limit, each failed trial's last error, and the
    fail-fast rule (see check_fail_fast)."""

    def __init__(self):
        self.max_failures = DEFAULT_MAX_FAILURES
        self.summaries = {}     # trial_id -> one line: "ActorDiedError: The actor died unexpectedly ..."
        self.own_fault = set()  # trial ids whose last failure was the trial's own (not retried)
        self.fail_fast = DEFAULT_FAIL_FAST
        self.experiment = None  # the experiment folder of the run, for the fail-fast message
        self.reported = False   # a trial of this run has reported a result
        self.started = []       # the trial ids of this run, in the order they first started
        self.first_failures = {}  # trial_id -> the summary of its first failure in this run

    def start_run(self, max_failures, fail_fast, experiment):
        self.max_failures, self.fail_fast, self.experiment = max_failures, fail_fast, experiment
        self.reported, self.started, self.first_failures = False, [], {}

    def saw_report(self):
        self.reported = True

    def saw_start(self, trial_id):
        if trial_id not in self.started:
            self.started.append(trial_id)

    def check_storage(self, trial, exc) -> None:
        """A trial that failed because the storage is full (or read-only) would fail again on every retry, and so
        would every other trial: the run is ended (sweep/stopping.py) with the trial left to retry at the resume
        (Ray counts the failure and plans the retry as for a lost worker), and StorageError names the storage."""
        from ray.exceptions import RayTaskError

        from trainables.errors import StorageError
        from trainables.files import STORAGE_ERRNOS

        cause = (getattr(exc, "cause", None) or exc.as_instanceof_cause()) if isinstance(exc, RayTaskError) else exc
        errno = getattr(cause, "errno", None)
        if errno not in STORAGE_ERRNOS or self.experiment is None:
            return
        from .stopping import request_stop

        name, storage = Path(self.experiment).name, Path(self.experiment).parent
        error = OSError(errno, os.strerror(errno))
        request_stop(StorageError.of(self.experiment, error, f"trial {trial.trial_id} could not write its results "
                                     f"there; the sweep stopped with every trial saved as it stood: once there is "
                                     f"space, `babysweep resume {name} --storage {storage}` goes on"))

    def check_fail_fast(self, trial, error_file=None) -> None:
        """Fail fast: when the first `fail_fast` trials to start in this run have all failed with the same error
        (class and message) and no trial of the run has reported yet, the run is ended (sweep/stopping.py: every
        trial kept as it stands) and FailFast is raised once Ray has saved its state. A trainable broken at its
        first line would otherwise fail every trial of the sweep, each up to max_failures + 1 times. A space whose
        bad values fail their trials at once does not trip it while a trial started among the first still runs."""
        if self.fail_fast <= 0 or self.reported or self.experiment is None:
            return
        summary = self.summaries.get(trial.trial_id)
        if summary is None:
            return
        self.first_failures.setdefault(trial.trial_id, summary)
        first = self.started[:self.fail_fast]
        if (len(first) < self.fail_fast or not all(t in self.first_failures for t in first)
                or len({self.first_failures[t] for t in first}) > 1):
            return
        from .errors import FailFast
        from .stopping import request_stop

        name, storage = Path(self.experiment).name, Path(self.experiment).parent
        where = f" (full text: {error_file})" if error_file else ""
        request_stop(FailFast(
            f"the first {len(self.first_failures)} trials of {name!r} all failed with the same error before any "
            f"report: {summary}{where}; the sweep was stopped with every trial kept: fix the cause, then "
            f"`babysweep resume {name} --storage {storage} --retry-errored`"))


POLICY = RetryPolicy()


def summarise(exc) -> tuple[str, bool]:
    """(one line naming the error, whether it is the trial's own fault) for an exception Ray hands the controller:
    a RayTaskError wrapping the trainable's exception, a RayActorError for a lost worker or node, or another."""
    from ray.exceptions import RayTaskError

    from trainables.errors import UserError

    cause = exc
    if isinstance(exc, RayTaskError):
        cause = getattr(exc, "cause", None) or exc.as_instanceof_cause()
    own = isinstance(cause, UserError)  # a lost worker or node (RayActorError) is not
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    if isinstance(cause, RayTaskError):  # the cause could not be unpickled: its last line names it
        text = lines[-1] if lines else type(cause).__name__
    else:
        text = f"{type(cause).__name__}: {lines[0]}" if lines else type(cause).__name__
    return (text if len(text) <= 240 else text[:237] + "..."), own


def install(max_failures: int, fail_fast: int = DEFAULT_FAIL_FAST, experiment=None) -> None:
    """Apply the policy to the trials of the Ray Tune run this driver starts next (see the module docstring)."""
    from ray.tune.experiment.trial import Trial

    POLICY.start_run(max_failures, fail_fast, experiment)
    if getattr(Trial, "_babysweep_policy", False):
        return
    original_handle_error = Trial.handle_error

    def handle_error(self, exc=None):
        original_handle_error(self, exc)
        if exc is not None:
            summary, own = summarise(exc)
            POLICY.summaries[self.trial_id] = summary
            (POLICY.own_fault.add if own else POLICY.own_fault.discard)(self.trial_id)
            POLICY.check_storage(self, exc)

    def should_recover(self):
        if self.trial_id in POLICY.own_fault:
            return False
        limit = POLICY.max_failures
        return limit < 0 or self.run_metadata.num_failures <= limit

    Trial.handle_error = handle_error
    Trial.should_recover = should_recover
    Trial._babysweep_policy = True


def error_file(experiment_dir, trial_id) -> Path:
    return Path(experiment_dir) / ERRORS_DIR / f"trial_{trial_id}.txt"


def keep_error_text(trial, experiment_dir) -> Path | None:
    """Copy the trial's error text (every failure so far, as Ray appends them) into the experiment folder."""
    from trainables.files import write_text

    source = trial.error_file
    if not source or not Path(source).is_file():
        return None
    target = error_file(experiment_dir, trial.trial_id)
    target.parent.mkdir(exist_ok=True)
    write_text(target, Path(source).read_text(errors="replace"))
    return target


def check_fail_fast(value) -> int:
    from .errors import SweepError

    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SweepError(f"--fail-fast {value}: must be a whole number >= 0 (trials failing alike before any report "
                         f"that stop the sweep; 0: never)")
    return value


def check_max_failures(value) -> int:
    from .errors import SweepError

    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SweepError(f"--max-failures {value}: must be a whole number >= 0 (retries of a trial that lost its "
                         f"worker or node)")
    return value
