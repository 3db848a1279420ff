"""Continue a stopped experiment of any kind from its checkpoints: finished trials are kept, the rest go on."""
from . import folder
from .errors import SweepError
from .kinds import spec_from_record
from .runtime import fit, ray_session


def resume(name, storage=folder.DEFAULT_STORAGE, retry_errored=False, address=None, verbose=1):
    from ray import tune

    exp = folder.find_experiment(name, storage)
    spec = spec_from_record(folder.read_record(exp))
    if not tune.Tuner.can_restore(str(exp)):
        raise SweepError(f"sweep {name!r}: Ray has not saved an experiment state in {exp} yet; launch it again "
                         f"with --overwrite")
    spec.check_inputs()
    folder.reconcile_with_table(exp)
    with ray_session(address or spec.address):
        fit(exp, spec.tuner_parts(exp), verbose, restore=True, retry_errored=retry_errored)
        spec.after_resume(exp, verbose)
    return exp
