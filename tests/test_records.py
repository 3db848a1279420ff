"""sweep.json's formats: every older one read through upgrade_record, a newer one refused in one line, the file
left as written."""
import json

import pytest

from conftest import copy_legacy
from sweep.errors import SweepError
from sweep.experiment import load_experiment
from sweep.kinds import RerunSpec, SweepSpec, spec_from_record
from sweep.records import FORMAT, upgrade_record

FORMAT_1_SWEEP = {"name": "old", "storage": "runs", "space": "s.yaml", "trainable": "pretrain", "data": "d"}
FORMAT_1_RERUN = {"kind": "rerun", "name": "old-rerun", "storage": "runs", "trainable": "pretrain", "data": "d",
                  "runs": [{"seed": 1000, "source_trial_id": "a"}], "source": "old"}


@pytest.mark.parametrize("record, filled", [
    (FORMAT_1_SWEEP, {"kind": "sweep", "keep": "last", "constant_schedule": "constant_with_warmup",
                      "seeding": "fixed"}),
    (FORMAT_1_RERUN, {"kind": "rerun", "keep": "last", "constant_schedule": "constant_with_warmup",
                      "algo": "rerun"}),
    ({**FORMAT_1_SWEEP, "keep": None, "constant_schedule": "constant", "seeding": "per_trial"},
     {"kind": "sweep", "keep": "last", "constant_schedule": "constant", "seeding": "per_trial"}),
], ids=["sweep", "rerun", "sweep with later fields"])
def test_a_format_1_record_is_read_as_it_was_launched(record, filled):
    before = json.dumps(record)
    upgraded = upgrade_record(record)
    assert upgraded == {**record, **filled, "format": FORMAT}
    assert json.dumps(record) == before  # the argument is left as it is


def test_a_new_record_carries_the_format_and_reads_back_unchanged():
    spec = SweepSpec(space="s.yaml", data="d", name="new", storage="runs")
    record = spec.to_record()
    assert record["format"] == FORMAT and upgrade_record(record) == record
    assert spec_from_record(json.loads(json.dumps(record))) == spec
    assert type(spec_from_record(FORMAT_1_RERUN)) is RerunSpec


@pytest.mark.parametrize("found, message", [
    (FORMAT + 1, f"sweep.json: format {FORMAT + 1} was written by a newer babysweep (this one reads formats 1 to "
                 f"{FORMAT}); upgrade babysweep to read it"),
    ("2", "sweep.json: format '2' is not a record format (a whole number >= 1)"),
    (0, "sweep.json: format 0 is not a record format (a whole number >= 1)"),
])
def test_a_record_of_an_unknown_format_is_one_line(found, message):
    with pytest.raises(SweepError) as e:
        upgrade_record({**FORMAT_1_SWEEP, "format": found})
    assert str(e.value) == message


def test_an_unknown_grid_role_is_one_line():
    with pytest.raises(SweepError, match=r"^sweep.json: unknown role 'tournament' of a grid \(this babysweep knows "
                                         r"rerun, scan, replicate, ensemble\)$"):
        spec_from_record({**FORMAT_1_RERUN, "algo": "tournament", "format": FORMAT})


def test_an_old_folder_is_read_in_the_current_format_and_its_file_left_as_written(tmp_path):
    storage = copy_legacy(tmp_path)
    path = storage / "legacy" / "sweep.json"
    before = path.read_bytes()
    exp = load_experiment("legacy", storage)
    assert exp.record["format"] == FORMAT and exp.kind == "sweep" and exp.spec.seeding == "fixed"
    assert path.read_bytes() == before
