"""A full disk (issue 23): a sweep, prepare, evaluate and report on a small tmpfs end in one line naming the path
and the error, with nothing half-written left where a reader would take it as whole; a sweep resumes cleanly
once there is space, and ends as an uninterrupted run. Mounting a tmpfs needs root: skipped with the reason
elsewhere."""
import shutil
import subprocess
import sys
import uuid

import pytest

from conftest import REPO
from sweep.table import read_history, read_table
from trainables.checkpoints import checkpoint_is_whole

BABYSWEEP = [sys.executable, "-m", "babysweep.cli"]
TINY_SPACE = REPO / "search_spaces" / "tiny_demo.yaml"


def resize(disk, mib):
    """Space freed: the tmpfs at `disk` made `mib` MiB large."""
    subprocess.run(["mount", "-o", f"remount,size={mib}m", str(disk)], check=True)


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of 3 MiB at tmp_path/disk-*, unmounted afterwards."""
    disk = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    disk.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], capture_output=True,
                           text=True)
    if mount.returncode != 0:
        disk.rmdir()
        pytest.skip(f"cannot mount a small tmpfs here to fill ({mount.stderr.strip() or 'mount failed'}; needs root)")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("babysweep: error")]
    assert len(errors) == 1, stderr[-3000:]
    return errors[0]


@pytest.mark.slow
def test_a_sweep_on_a_full_disk_stops_in_one_line_and_resumes_once_there_is_space(tiny_data, small_sweep,
                                                                                small_disk):
    runs = small_disk / "runs"
    out = subprocess.run([*BABYSWEEP, "launch", str(TINY_SPACE), "--data", str(tiny_data), "--samples", "5",
                          "--storage", str(runs), "--name", "full", "--quiet"],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 1, out.stderr[-3000:]
    line = one_error_line(out.stderr)
    assert str(runs) in line and "No space left on device" in line and "babysweep resume full" in line
    table = read_table(runs / "full" / "results.csv")  # whole: written under a temporary name, then renamed
    unfinished = int((table["state"] != "TERMINATED").sum())
    assert unfinished  # stopped before the end
    for checkpoint in table.get("checkpoint", []).dropna():
        folder = checkpoint[:-3] if checkpoint.endswith("/hf") else checkpoint
        assert checkpoint_is_whole(folder) is not False, checkpoint

    resize(small_disk, 200)
    resumed = subprocess.run([*BABYSWEEP, "resume", "full", "--storage", str(runs), "--quiet"], cwd=REPO,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    table = read_table(runs / "full" / "results.csv")
    assert len(table) == 5 and set(table["state"]) == {"TERMINATED"}, table[["trial_id", "state", "epoch"]]
    # a report whose checkpoint the full disk refused is made again after the resume (the trial goes back to its
    # last saved checkpoint, as after a lost worker; the history marks the first one redone): at most the one
    # report each unfinished trial made as the disk filled, never a trial's whole run again
    redone = read_history(runs / "full" / "history.csv", redone=True)["redone"]
    assert redone.sum() <= unfinished, (int(redone.sum()), unfinished)
    reference = read_table(small_sweep / "small" / "results.csv")
    expected = {int(r["seed"]): (float(r["epoch"]), float(r["val_loss"])) for _, r in reference.iterrows()}
    got = {int(r["seed"]): (float(r["epoch"]), float(r["val_loss"])) for _, r in table.iterrows()}
    assert got.keys() == expected.keys()
    for seed, (epoch, loss) in expected.items():
        assert got[seed][0] == epoch and got[seed][1] == pytest.approx(loss, abs=1e-5), seed


def fill(disk, leave_kib):
    """Fill `disk` but for `leave_kib` KiB."""
    free = shutil.disk_usage(disk).free
    (disk / "filler").write_bytes(b"\0" * max(0, free - leave_kib * 1024))


def test_prepare_onto_a_full_disk_is_one_line_and_leaves_nothing(tiny_data, small_disk):
    fill(small_disk, leave_kib=64)
    out = subprocess.run([*BABYSWEEP, "data", "prepare", "--corpus", str(tiny_data.parent / "corpus"),
                          "--out", str(small_disk / "prep"), "--vocab-size", "400", "--seq-length", "32", "--quiet"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stderr[-3000:]
    assert f"{small_disk / 'prep'}: No space left on device" in one_error_line(out.stderr)
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]  # no staging folder, no half prepared folder
