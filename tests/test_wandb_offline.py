"""W&B offline runs (sweep/wandb_runs.py): every trial's run, the last to finish included, holds every report and
its exit record, in the experiment folder; read back from W&B's own files and compared with history.csv."""
import json
import os
import struct
import subprocess
import sys

import pytest

from conftest import REPO
from sweep.table import read_history, read_table

BLOCK = 32 * 1024  # W&B's transaction log is LevelDB's log format: 32 KiB blocks of chunked records


def wandb_records(path):
    """The protobuf records of a .wandb file (wandb 0.31 has no Python reader of its own any more)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path}: not a W&B transaction log"
    pos, pending = 7, b""  # after the header: ":W&B", a 2-byte magic, a version byte
    while pos + 7 <= len(data):
        left = BLOCK - pos % BLOCK
        if left < 7:  # a block's tail too short for a chunk header is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind == 0:
            continue
        pending = chunk if kind in (1, 2) else pending + chunk  # FULL, FIRST; MIDDLE, LAST
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


@pytest.mark.slow
def test_every_offline_run_holds_every_report_and_its_exit_record(tiny_data, tmp_path):
    runs = tmp_path / "runs"
    out = subprocess.run([sys.executable, "-m", "babysweep.cli", "launch", str(REPO / "search_spaces" / "tiny_demo.yaml"),
                          "--data", str(tiny_data), "--algo", "random", "--samples", "2", "--storage", str(runs),
                          "--name", "wb", "--quiet", "--wandb", "--set", "num_epochs=2"],
                         cwd=REPO, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "WANDB_SILENT": "true"})
    assert out.returncode == 0, out.stderr[-3000:]
    exp = runs / "wb"
    history = read_history(exp / "history.csv")
    trials = set(read_table(exp / "results.csv")["trial_id"])
    found = {}
    for run_dir in sorted((exp / "wandb").glob("offline-run-*")):
        trial_id = run_dir.name.rsplit("-", 1)[1]
        kinds, reports = [], []
        for record in wandb_records(run_dir / f"run-{trial_id}.wandb"):
            kinds.append(record.WhichOneof("record_type"))
            if kinds[-1] == "history":
                items = {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item}
                reports.append((items["epoch"], items["val_loss"]))
        assert "exit" in kinds, f"{run_dir.name}: no exit record"
        found[trial_id] = reports
    assert set(found) == trials  # one run per trial, the last to finish included
    for trial_id, reports in found.items():
        expected = history[history["trial_id"] == trial_id]
        assert reports == list(zip(expected["epoch"], expected["val_loss"])), trial_id
    assert f"wandb sync {exp / 'wandb'}/offline-run-*" in out.stdout
