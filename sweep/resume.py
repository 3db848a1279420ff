"""Continue a stopped experiment of any kind from its checkpoints: finished trials are kept, the rest go on."""
from . import folder
from .errors import SweepError
from .failures import check_fail_fast, check_max_failures
from .kinds import spec_from_record
from .runtime import fit, ray_session
from .table import TABLE, read_table


def resume(name, storage=folder.DEFAULT_STORAGE, retry_errored=False, address=None, verbose=1, max_failures=None,
           fail_fast=None):
    """Continue the experiment `name`. Trials in ERROR (their retries spent, or their own fault) stay in ERROR
    unless retry_errored: then each starts again from its latest checkpoint.
    max_failures: this run's retries of a trial that loses its worker or node (default: as launched);
    fail_fast: this run's fail-fast rule (sweep/failures.py; default: as launched)."""
    from ray import tune

    exp = folder.find_experiment(name, storage)
    folder.check_not_running(exp)  # first: a running experiment is not resumed a second time
    spec = spec_from_record(folder.read_record(exp))
    if max_failures is not None:
        spec.max_failures = check_max_failures(max_failures)  # for this run; sweep.json keeps what was launched
    if fail_fast is not None:
        spec.fail_fast = check_fail_fast(fail_fast)
    if not tune.Tuner.can_restore(str(exp)):
        raise SweepError(f"sweep {name!r}: Ray has not saved an experiment state in {exp} yet; launch it again "
                         f"with --overwrite")
    if (exp / TABLE).exists():
        read_table(exp / TABLE)  # the experiment's own files before its inputs: a damaged table is the first thing to say
    spec.check_inputs()
    with folder.driver_lock(exp):  # before reconciling: a running driver's state is not ours to change
        folder.repair_ray_state(exp)
        folder.reconcile_with_table(exp)
        with ray_session(address or spec.address):
            fit(exp, spec.tuner_parts(exp), verbose, restore=True, retry_errored=retry_errored,
                max_failures=spec.max_failures, fail_fast=spec.fail_fast)
            spec.after_resume(exp, verbose)
    return exp
