"""Start a new experiment of any kind: check its spec, create its folder, run it on Ray.

    launch(SweepSpec(space="search_spaces/tiny_demo.yaml", data="data/prepared"))   # a BOHB sweep
"""
from . import folder
from .kinds import ExperimentSpec, SweepSpec  # noqa: F401  (SweepSpec: the spec most callers build)
from .runtime import fit, ray_session

# Names that experiment folders written by babysweep 0.1 pickled into Ray's tuner.pkl as sweep.launch.<name>
# (the trial namer, and the config mapper the results-table callback holds): kept importable here so those
# folders still resume. tests/test_legacy_folders.py resumes such a folder.
from .kinds.grid import rerun_row  # noqa: F401,E402
from .kinds.searched import space_config  # noqa: F401,E402
from .runtime import trial_name  # noqa: F401,E402


def launch(spec: ExperimentSpec, overwrite=False, verbose=1, what="sweep", space_file=None):
    """Start `spec` as a new experiment. Returns the experiment folder. `space_file`: the space copied into the
    folder, when not the spec's own (a family's, generated from its recipe: sweep/replicate.py)."""
    spec.prepare()
    exp = folder.create(spec.storage, spec.name, spec.to_record(), space_file or spec.space_file(), overwrite, what)
    try:
        with ray_session(spec.address):
            fit(exp, spec.tuner_parts(exp), verbose, max_failures=spec.max_failures, fail_fast=spec.fail_fast)
    except BaseException:
        folder.remove_if_never_started(exp)  # Ray never started it: leave nothing behind
        raise
    return exp
