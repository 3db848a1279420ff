"""sweep.json's formats, and the one place that reads the older ones.

Every record babysweep writes carries `format` (FORMAT). `upgrade_record` turns a record of any earlier format
into the current one, so that nothing else reads an old form: the specs (sweep/kinds/), the readers and the
report see one shape. Records are upgraded when read and left on disk as written (an older babysweep can still
read its own folders); a record of a newer format than this babysweep knows is refused in one line.

    format 1   (no `format` key) babysweep 0.1 and the releases up to this one, whose fields came one by one:
               no `kind` (a searched sweep), a re-run with no `algo`, no `keep` (each trial kept its last
               checkpoint), no `constant_schedule` (launched while `constant` had a warm-up), no `seeding`
               (every trial took the space's seed)
    format 2   every field present; `algo` names a grid's role (rerun, scan, replicate, ensemble)
    format 3   the experiment's files named relative to its storage (`stored_record`): `data` and
               `source_experiment`, and the file settings (PATH_SETTINGS) of `extra` and of each planned run, when
               they lie inside the storage; those outside it (the user's inputs) stay absolute. `storage` is where the
               record was written, which tells a reader the experiment has moved since

Read (`upgrade_record` with `where`, the experiment's folder now), every path is absolute at the experiment's place
now: a relative one against the storage it is in, an absolute one under the storage it was written in (a folder of
format 1 or 2 copied or moved, trainables/relocation.py) re-rooted to it, and `storage` is that storage.
"""
import os
from pathlib import Path

from trainables.relocation import reroot, resolved_path, stored_path

from .errors import SweepError

FORMAT = 3

SWEEP_KIND, GRID_KIND = "sweep", "rerun"   # the kinds records have always named (sweep/kinds/)


# the trainables' settings naming files (trainables.pretrain/finetune/distill PATHS, made absolute at launch), and
# the record's own keys naming files (space and space_source are the user's inputs as given: re-rooted, never
# resolved, for a relative one is the user's, against the working directory of the launch)
PATH_SETTINGS = ("data", "checkpoint", "glue_dir", "teachers", "output_dir")
RECORD_PATHS = ("data", "source_experiment")
INPUT_PATHS = ("space", "space_source")


def upgrade_record(record: dict, source="sweep.json", where=None) -> dict:
    """`record` in the current format (a new dict; the argument is left as it is); with `where` (the experiment's
    folder now), its paths absolute at that place (the module docstring). SweepError for a record of a format newer
    than FORMAT, or not a whole number."""
    found = record.get("format", 1)
    if isinstance(found, bool) or not isinstance(found, int) or found < 1:
        raise SweepError(f"{source}: format {found!r} is not a record format (a whole number >= 1)")
    if found > FORMAT:
        raise SweepError(f"{source}: format {found} was written by a newer babysweep (this one reads formats 1 to "
                         f"{FORMAT}); upgrade babysweep to read it")
    if found == 1:
        record = from_format_1(record)
    record = {**record, "format": FORMAT}
    return record if where is None else placed_record(record, Path(where), relative_paths=found >= 3)


def map_paths(record: dict, path) -> dict:
    """`record` with `path(value, key)` applied to each value naming a file (RECORD_PATHS, INPUT_PATHS, and
    PATH_SETTINGS in `extra` and in each of `runs`)."""
    def settings(values):
        return {k: path(v, k) if k in PATH_SETTINGS else v for k, v in values.items()} if isinstance(values, dict) \
            else values

    out = {k: path(v, k) if k in RECORD_PATHS + INPUT_PATHS else v for k, v in record.items()}
    if "extra" in out:
        out["extra"] = settings(out["extra"])
    if isinstance(out.get("runs"), list):
        out["runs"] = [settings(run) for run in out["runs"]]
    return out


def placed_record(record: dict, experiment: Path, relative_paths: bool) -> dict:
    """The record of the experiment now at `experiment`, its paths absolute there: relative ones (format 3 on) against
    its storage, absolute ones under the storage it was written in re-rooted to the one it is in now."""
    storage = str(experiment.resolve().parent)
    written = record.get("storage")
    moved = (os.path.normpath(written), storage) if isinstance(written, str) and os.path.isabs(written) else None
    own = os.path.join(moved[0], str(record.get("name") or experiment.name)) if moved else None

    def placed(value, key):
        if key in INPUT_PATHS or not relative_paths:
            return reroot(value, *moved, own=own) if moved else value
        return resolved_path(value, storage, moved, own)

    return {**map_paths(record, placed), "storage": storage}


def stored_record(record: dict) -> dict:
    """The record as sweep.json holds it (format 3): the paths inside its storage relative to it (INPUT_PATHS stay as
    given), `storage` absolute (where it was written)."""
    storage = record.get("storage")
    if not isinstance(storage, str) or not os.path.isabs(storage):
        return record
    return map_paths(record, lambda value, key: value if key in INPUT_PATHS else stored_path(value, storage))


def from_format_1(record: dict) -> dict:
    record = {"kind": SWEEP_KIND, **record}
    if record.get("keep") is None:
        record["keep"] = "last"
    record.setdefault("constant_schedule", "constant_with_warmup")
    if record["kind"] == SWEEP_KIND:
        record.setdefault("seeding", "fixed")
    elif record["kind"] == GRID_KIND and not record.get("algo"):
        record["algo"] = "rerun"
    return record
