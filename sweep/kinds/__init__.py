"""Experiment kinds: each a typed spec that builds its own Tuner parts (see base.py). To add a kind, write its
module here and add its spec class to KINDS; launch, resume, status and load_experiment need no change."""
from ..errors import SweepError
from .base import ExperimentSpec, accepted_names, resolve_trainable
from .grid import ROLES, EnsembleFamilySpec, FamilySpec, GridSpec, RerunSpec, ScanSpec, grid_role
from .searched import ALGOS, SweepSpec

KINDS = {spec.KIND: spec for spec in (SweepSpec, GridSpec)}


def spec_from_record(record: dict, source="sweep.json") -> ExperimentSpec:
    """The typed spec of a sweep.json. Records written by babysweep 0.1 have no kind for a searched sweep."""
    kind = record.get("kind", SweepSpec.KIND)
    if kind not in KINDS:
        raise SweepError(f"{source}: unknown experiment kind {kind!r} (this babysweep knows {', '.join(KINDS)})")
    spec = KINDS[kind]
    return (grid_role(record) if spec is GridSpec else spec).from_record(record, source)


__all__ = ["ALGOS", "KINDS", "ROLES", "EnsembleFamilySpec", "ExperimentSpec", "FamilySpec", "GridSpec", "RerunSpec",
           "ScanSpec", "SweepSpec", "accepted_names", "resolve_trainable",
           "spec_from_record"]
