"""Experiment kinds: each a typed spec that builds its own Tuner parts (see base.py). To add a kind, write its
module here and add its spec class to KINDS; launch, resume, status and load_experiment need no change."""
from ..errors import SweepError
from ..records import upgrade_record
from .base import ExperimentSpec, absolute_paths, accepted_names, resolve_trainable
from .grid import ROLES, EnsembleFamilySpec, FamilySpec, GridSpec, RerunSpec, ScanSpec, grid_role
from .searched import ALGOS, SweepSpec

KINDS = {spec.KIND: spec for spec in (SweepSpec, GridSpec)}


def spec_from_record(record: dict, source="sweep.json") -> ExperimentSpec:
    """The typed spec of a sweep.json, of any format (upgraded first: sweep/records.py)."""
    record = upgrade_record(record, source)
    kind = record["kind"]
    if kind not in KINDS:
        raise SweepError(f"{source}: unknown experiment kind {kind!r} (this babysweep knows {', '.join(KINDS)})")
    spec = KINDS[kind]
    if spec is GridSpec and record.get("algo") not in ROLES:
        raise SweepError(f"{source}: unknown role {record.get('algo')!r} of a grid (this babysweep knows "
                         f"{', '.join(ROLES)})")
    return (grid_role(record) if spec is GridSpec else spec).from_record(record, source)


__all__ = ["ALGOS", "KINDS", "ROLES", "EnsembleFamilySpec", "ExperimentSpec", "FamilySpec", "GridSpec", "RerunSpec",
           "ScanSpec", "SweepSpec", "absolute_paths", "accepted_names", "resolve_trainable",
           "spec_from_record"]
