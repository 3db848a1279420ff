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
"""
from .errors import SweepError

FORMAT = 2

SWEEP_KIND, GRID_KIND = "sweep", "rerun"   # the kinds records have always named (sweep/kinds/)


def upgrade_record(record: dict, source="sweep.json") -> dict:
    """`record` in the current format (a new dict; the argument is left as it is). SweepError for a record of a
    format newer than FORMAT, or not a whole number."""
    found = record.get("format", 1)
    if isinstance(found, bool) or not isinstance(found, int) or found < 1:
        raise SweepError(f"{source}: format {found!r} is not a record format (a whole number >= 1)")
    if found > FORMAT:
        raise SweepError(f"{source}: format {found} was written by a newer babysweep (this one reads formats 1 to "
                         f"{FORMAT}); upgrade babysweep to read it")
    if found == 1:
        record = from_format_1(record)
    return {**record, "format": FORMAT}


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
