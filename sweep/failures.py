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
from pathlib import Path

ERRORS_DIR = "errors"
DEFAULT_MAX_FAILURES = 3


class RetryPolicy:
    """What the running driver decided for its trials: the limit, and each failed trial's last error."""

    def __init__(self):
        self.max_failures = DEFAULT_MAX_FAILURES
        self.summaries = {}     # trial_id -> one line: "ActorDiedError: The actor died unexpectedly ..."
        self.own_fault = set()  # trial ids whose last failure was the trial's own (not retried)


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


def install(max_failures: int) -> None:
    """Apply the policy to the trials of the Ray Tune run this driver starts next (see the module docstring)."""
    from ray.tune.experiment.trial import Trial

    POLICY.max_failures = max_failures
    if getattr(Trial, "_babysweep_policy", False):
        return
    original_handle_error = Trial.handle_error

    def handle_error(self, exc=None):
        original_handle_error(self, exc)
        if exc is not None:
            summary, own = summarise(exc)
            POLICY.summaries[self.trial_id] = summary
            (POLICY.own_fault.add if own else POLICY.own_fault.discard)(self.trial_id)

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


def check_max_failures(value) -> int:
    from .errors import SweepError

    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SweepError(f"--max-failures {value}: must be a whole number >= 0 (retries of a trial that lost its "
                         f"worker or node)")
    return value
