"""The experiment folder <storage>/<name>/: Ray's own files plus babysweep's, and what keeps them consistent.

    sweep.json    the experiment's record: its kind and typed spec (sweep/kinds/), written once at launch
    space.yaml    a copy of the search space, so a resume does not depend on the original file
    results.csv, history.csv, evaluation.csv   the results table (format: sweep/table.py)
    driver.json   the driver process while one holds the experiment, so `status` can tell running from stopped

What is consistent when (the storage contract):
- sweep.json and space.yaml exist before Ray starts and never change afterwards.
- Ray's experiment state (experiment_state-*.json, tuner.pkl, searcher state) is saved by Ray every few seconds
  and at the end; results.csv is rewritten (atomically) only after Ray saved its state for that step.
- So after a crash results.csv may be ahead of Ray's stored state, never behind it: `reconcile_with_table`
  brings Ray's state up to the table before a resume.
- evaluation.csv is appended to by `evaluate` (atomic rewrite per score) and merged into results.csv by both
  writers, so evaluating a running sweep is safe.
"""
import json
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

from trainables.files import write_json, write_text

from .errors import SweepError
from .table import ERROR, FINISHED, LOST, TABLE, read_table, write_table

DEFAULT_STORAGE = "runs"
RECORD, SPACE, DRIVER = "sweep.json", "space.yaml", "driver.json"


def is_uri(storage) -> bool:
    return "://" in str(storage)


def check_name(name) -> str:
    """An experiment name is a plain folder name inside its storage: not empty, no path separator, no leading dot
    (which also rules out `.` and `..`, and hidden folders)."""
    if not isinstance(name, str) or not name or name.startswith(".") or any(c in name for c in "/\\\0"):
        raise SweepError(f"experiment name {name!r}: must be a plain folder name (no '/' or '\\', no leading '.'), "
                         f"so that the experiment stays inside its storage folder")
    return name


def experiment_dir(storage, name) -> Path:
    check_name(name)
    if is_uri(storage):
        raise SweepError(f"--storage {storage}: babysweep keeps its results table next to Ray's files and needs a "
                         f"shared filesystem path (mount the bucket, e.g. with a FUSE driver)")
    return Path(storage).expanduser().resolve() / name


def find_experiment(name, storage=DEFAULT_STORAGE) -> Path:
    """The folder of an existing experiment; SweepError naming it when there is none."""
    exp = experiment_dir(storage, name)
    if not (exp / RECORD).is_file():
        raise SweepError(f"no sweep named {name!r} in {exp.parent}" if exp.parent.is_dir()
                         else f"no sweep named {name!r}: {exp.parent} does not exist")
    return exp


def read_record(exp: Path) -> dict:
    """sweep.json; SweepError naming it when it is not a JSON object (the file is left as it is)."""
    path = exp / RECORD
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SweepError(f"{path}: not valid JSON ({e}); the experiment's record is damaged") from None
    if not isinstance(record, dict):
        raise SweepError(f"{path}: not a JSON object; the experiment's record is damaged")
    return record


def check_storage(storage) -> Path:
    root = Path(storage).expanduser().resolve()
    try:
        root.mkdir(parents=True, exist_ok=True)
        tempfile.NamedTemporaryFile(dir=root, prefix=".write-test-").close()
    except OSError as e:
        raise SweepError(f"--storage {storage}: not writable ({e.strerror or e})") from None
    return root


def create(storage, name, record: dict, space_file, overwrite=False, what="sweep") -> Path:
    """A new experiment folder holding its record and space; an existing one is replaced only with overwrite."""
    check_storage(storage)
    exp = experiment_dir(storage, name)
    if exp.exists() and any(exp.iterdir()):
        if not overwrite:
            raise SweepError(f"{what} {name!r} already exists in {exp.parent}; continue it with "
                             f"`babysweep resume {name}` or start afresh with --overwrite")
        shutil.rmtree(exp)
    exp.mkdir(parents=True, exist_ok=True)
    write_text(exp / SPACE, Path(space_file).read_text())
    write_json(exp / RECORD, record, default=str)
    return exp


def tune_state_exists(exp: Path) -> bool:
    return any(exp.glob("experiment_state-*.json"))


def remove_if_never_started(exp: Path) -> None:
    """After a failed launch: a folder Ray never saved a state in holds nothing worth keeping."""
    if not tune_state_exists(exp):
        shutil.rmtree(exp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- the driver

def write_driver_file(exp: Path) -> None:
    write_json(exp / DRIVER, {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}, indent=None)


def remove_driver_file(exp: Path) -> None:
    (exp / DRIVER).unlink(missing_ok=True)


def driver_state(exp: Path) -> str:
    """'running (pid N)', or 'stopped' when no driver holds the experiment (ended, interrupted or killed)."""
    path = exp / DRIVER
    if not path.is_file():
        return "stopped"
    info = json.loads(path.read_text())
    if info.get("host") != socket.gethostname():
        return f"running on {info.get('host')} (pid {info.get('pid')})"
    try:
        os.kill(info["pid"], 0)
    except ProcessLookupError:
        return "stopped (driver killed)"
    except PermissionError:
        pass
    return f"running (pid {info['pid']})"


# ---------------------------------------------------------------------------------------------- after a crash

def reconcile_with_table(exp: Path, log=print) -> list[str]:
    """Mark as finished, in Ray's saved experiment state, the trials that babysweep's table shows finished.

    Ray writes its experiment state to a staging folder and copies it to storage in the background, so a
    driver killed at the wrong moment leaves a stored state a step or two old: a trial HyperBand had just
    stopped would come back as PAUSED and train again. The results table is written only after Ray processed
    the stop, so it is the later truth for that one fact. Returns the trial ids changed."""
    table, states = exp / TABLE, sorted(exp.glob("experiment_state-*.json"))
    if not table.exists() or not states:
        return []
    df = read_table(table)
    finished = set(df.loc[df["state"] == FINISHED, "trial_id"])
    path = states[-1]
    state = json.loads(path.read_text())
    changed = []
    for entry in state["trial_data"]:
        trial = json.loads(entry[0])
        if trial["trial_id"] in finished and trial["status"] not in (FINISHED, ERROR):
            trial["status"] = FINISHED
            entry[0] = json.dumps(trial)
            changed.append(trial["trial_id"])
    if changed:
        write_text(path, json.dumps(state))
        log(f"{len(changed)} trial(s) had finished after Ray's last stored state: kept as finished "
            f"({', '.join(changed)})")
    # The other way round: a trial the table saw start but Ray's stored state never recorded is gone for
    # good (Ray will not run it again; its searcher makes another suggestion instead). Say so in the table.
    known = {json.loads(entry[0])["trial_id"] for entry in state["trial_data"]}
    lost = ~df["trial_id"].isin(known) & ~df["state"].isin([FINISHED, ERROR, LOST])
    if lost.any():
        df.loc[lost, "state"] = LOST
        write_table(df, table)
        log(f"{int(lost.sum())} trial(s) started after Ray's last stored state and cannot be resumed: marked LOST "
            f"({', '.join(df.loc[lost, 'trial_id'])})")
    return changed
