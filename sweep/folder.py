"""The experiment folder <storage>/<name>/: Ray's own files plus babysweep's, and what keeps them consistent.

    sweep.json    the experiment's record: its kind and typed spec (sweep/kinds/), written once at launch
    space.yaml    a copy of the search space, so a resume does not depend on the original file
    results.csv, history.csv, evaluation.csv   the results table (format: sweep/table.py)
    driver.json   the lock of the driver that holds the experiment (one at a time; see driver_lock), so `status`
                  can tell running from stopped and a second launch or resume is refused
    errors/       each errored or retried trial's error text, copied from Ray's temporary folder (sweep/failures.py)

What is consistent when (the storage contract):
- sweep.json and space.yaml exist before Ray starts and never change afterwards.
- Ray's experiment state (experiment_state-*.json, tuner.pkl, searcher state) is saved by Ray every few seconds
  and at the end; results.csv is rewritten (atomically) only after Ray saved its state for that step.
- So after a crash results.csv may be ahead of Ray's stored state, never behind it: `reconcile_with_table`
  brings Ray's state up to the table before a resume.
- results.csv and evaluation.csv are each replaced atomically, and every read-merge-write of them holds the
  experiment's tables lock (`tables_lock`: `.tables.lock`, flock). That covers the sweep's table writer
  (`ResultsTable.save`: its rows merged with evaluation.csv as it is now), each `evaluate` (`record_scores`:
  evaluation.csv re-read, the score merged by (trial_id, checkpoint), then results.csv re-read and merged) and
  `reconcile_with_table`. So concurrent writers never lose each other's updates; readers take no lock.
- history.csv is appended to by the one driver; `read_history` skips a line torn by a kill, with a warning.
- A trial's ending is recorded in results.csv (`state` TERMINATED or ERROR, with `ended`) only from Ray's completion
  and error callbacks, never from the TERMINATED Ray marks on the trials it stops because the driver is ending
  (sweep/stopping.py): after Ctrl-C, SIGTERM, fail-fast or a full disk, the table and Ray's stored state agree
  that the interrupted trials go on.
"""
import json
import math
import os
import shutil
import socket
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from trainables.names import DEFAULT_STORAGE, DRIVER_RECORD, EXPERIMENT_RECORD, SPACE_COPY
from trainables.files import atomic_path, locked, process_runs, write_json, write_text

from .errors import SweepError
from .records import stored_record, upgrade_record
from .table import ERROR, FINISHED, LOST, TABLE, read_table, write_table

RECORD, SPACE, DRIVER = EXPERIMENT_RECORD, SPACE_COPY, DRIVER_RECORD
TABLES_LOCK = ".tables.lock"  # held for every read-merge-write of results.csv and evaluation.csv (tables_lock)


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
    """sweep.json in the current format, its paths absolute where the experiment is now (sweep/records.py upgrades
    an older one as it reads it, and re-roots the paths of a folder copied or moved; the file is left as written);
    SweepError naming it when it is not a JSON object or of a newer format."""
    path = exp / RECORD
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SweepError(f"{path}: not valid JSON ({e}); the experiment's record is damaged") from None
    if not isinstance(record, dict):
        raise SweepError(f"{path}: not a JSON object; the experiment's record is damaged")
    return upgrade_record(record, path, where=exp)


def moved_roots(exp: Path) -> tuple[str, str] | None:
    """(the storage `exp` was launched in, the one it is in now) when it has been copied or moved since, else None:
    what Ray's own saved state (trial configs of the launch) is re-rooted by when its trials run again."""
    from trainables.relocation import moved_storage

    return moved_storage(exp)


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
        check_not_running(exp)  # --overwrite never deletes a running experiment
        shutil.rmtree(exp)
    exp.mkdir(parents=True, exist_ok=True)
    write_text(exp / SPACE, Path(space_file).read_text())
    # the paths inside the storage relative to it (sweep/records.py, format 3): the storage can be copied or moved
    # (`storage` where it is written: a reader tells by it that the experiment has moved since)
    if "storage" in record:
        record = {**record, "storage": str(exp.parent)}
    write_json(exp / RECORD, stored_record(record), default=str)
    return exp


def tables_lock(exp: Path):
    """The lock held while results.csv or evaluation.csv is read, merged and written: the sweep's table writer
    and every `evaluate` of the experiment take it, so no one's update is lost to another's rename."""
    return locked(Path(exp) / TABLES_LOCK, what=f"experiment {Path(exp).name!r} (its tables)")


# ---------------------------------------------------------------------------------------------- Ray's state, kept whole

# Ray copies its experiment state into storage without a temporary name, in the background: a full disk (or a
# kill) mid-copy leaves experiment_state-*.json, search_gen_state-*.json or searcher-state-*.pkl cut short, and Ray
# cannot restore from them. The three are one state (the trials, the search generator's count of trials made, the
# searcher with HyperBand's brackets): the results-table writer keeps the last set it read whole and unchanged over
# two of Ray's steps (Ray's copy done) in WHOLE_STATE/set-N (keep_whole_ray_state); a resume puts the whole set back
# when one of Ray's files is cut short (repair_ray_state). Ray rewrites its files in place within a driver's
# session, so its own older files are of no help.
WHOLE_STATE = ".ray-state-whole"
RAY_STATE_FILES = ("experiment_state-*.json", "search_gen_state-*.json", "searcher-state-*.pkl")


def ray_state_is_whole(path: Path) -> bool:
    """Whether one of Ray's state files reads back whole: JSON that parses, or a pickle that loads (Ray pickles its
    search generator's state under a .json name; the searcher's is a pickle: both the experiment's own, written by
    its driver, not files from elsewhere)."""
    import pickle

    try:
        data = path.read_bytes()
    except OSError:
        return False
    try:
        json.loads(data)
        return True
    except (ValueError, UnicodeDecodeError):
        pass
    try:
        pickle.loads(data)
    except Exception:  # cut short anywhere: a pickle, EOF or import error
        return False
    return True


def ray_state_files(exp: Path) -> list[Path]:
    return sorted(path for pattern in RAY_STATE_FILES for path in exp.glob(pattern))


def keep_whole_ray_state(exp: Path, seen: dict) -> bool:
    """Keep a copy of Ray's state files as one set when they changed since the last set, have not changed since
    the previous call (Ray's background copy is done) and all read back whole. `seen` is the caller's memory
    between calls. Returns whether a set was kept."""
    files = ray_state_files(exp)
    try:
        marks = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    except FileNotFoundError:
        return False
    stable, seen["last"] = seen.get("last") == marks, marks
    if not files or not stable or seen.get("kept") == marks or not all(ray_state_is_whole(p) for p in files):
        return False
    from trainables.files import staged_folder

    sets = exp / WHOLE_STATE
    number = max([int(p.name[4:]) for p in sets.glob("set-*") if p.name[4:].isdigit()] or [0]) + 1
    with staged_folder(sets / f"set-{number:06d}") as staging:
        for path in files:
            shutil.copyfile(path, staging.path / path.name)
    for older in sets.glob("set-*"):
        if older.name != f"set-{number:06d}":
            shutil.rmtree(older, ignore_errors=True)
    seen["kept"] = marks
    return True


def repair_ray_state(exp: Path, log=print) -> list[str]:
    """Before a resume: when one of Ray's state files does not read back whole, the last whole set
    (keep_whole_ray_state) is put back in place of all of them. SweepError when there is none. Returns the files
    put back."""
    torn = [p for p in ray_state_files(exp) if not ray_state_is_whole(p)]
    if not torn:
        return []
    sets = sorted((exp / WHOLE_STATE).glob("set-*"), reverse=True)
    whole = next((s for s in sets if all(ray_state_is_whole(p) for p in s.iterdir())), None)
    if whole is None:
        raise SweepError(f"{torn[0]}: Ray's saved state is cut short (a full disk or a kill while Ray wrote it) and "
                         f"no whole copy of it is kept; the experiment cannot be resumed: launch it again with "
                         f"--overwrite")
    for path in torn:
        if not (whole / path.name).is_file():
            path.unlink()  # a file of a later driver session than the set: Ray restores from the set's
    for copy in whole.iterdir():
        with atomic_path(exp / copy.name) as tmp:
            shutil.copyfile(copy, tmp)
    log(f"Ray's saved state was cut short ({', '.join(p.name for p in torn)}): put back from its last whole copy, a "
        f"step or two old; the trials go on from there")
    return sorted(p.name for p in whole.iterdir())


def tune_state_exists(exp: Path) -> bool:
    return any(exp.glob("experiment_state-*.json"))


def remove_if_never_started(exp: Path) -> None:
    """After a failed launch: a folder Ray never saved a state in holds nothing worth keeping."""
    if not tune_state_exists(exp):
        shutil.rmtree(exp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- the driver

# One driver per experiment. driver.json is its lock: created exclusively (O_EXCL) by the driver that takes the
# experiment, touched every HEARTBEAT_S seconds while it runs, removed when it ends. A driver that was killed leaves
# it behind: the lock is stale when its process is gone (same host) or its heartbeat stopped STALE_AFTER_S ago
# (any host: a driver elsewhere on the cluster), and the next launch or resume takes it over, saying so.
HEARTBEAT_S, STALE_AFTER_S = 15.0, 90.0
_held = set()  # experiment folders this process holds (fit runs twice in one grid resume)


def read_driver(exp: Path) -> dict | None:
    """driver.json as {pid, host, started, age_s (seconds since its last heartbeat)}, None when there is none."""
    path = exp / DRIVER
    try:
        info = json.loads(path.read_text())
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        info, age = {}, STALE_AFTER_S + 1  # torn by a kill while it was written: nobody holds it
    if not isinstance(info, dict):
        info = {}
    return {**info, "age_s": age}


def driver_alive(info: dict) -> bool:
    if info.get("host") == socket.gethostname() and isinstance(info.get("pid"), int):
        if not process_runs(info["pid"]):
            return False
        # the process exists; a heartbeat long stopped means the pid was reused (drivers before babysweep 0.3
        # wrote no heartbeat: their pid alone says)
        return "heartbeat_s" not in info or info["age_s"] <= STALE_AFTER_S
    return info.get("age_s", math.inf) <= STALE_AFTER_S


def describe_driver(info: dict) -> str:
    host = "" if info.get("host") == socket.gethostname() else f" on {info.get('host')}"
    return f"pid {info.get('pid')}{host}"


def check_not_running(exp: Path) -> None:
    """SweepError naming the driver when one holds `exp` now."""
    info = read_driver(exp)
    if info is not None and driver_alive(info) and str(exp) not in _held:
        raise SweepError(f"experiment {exp.name!r} is running now (driver {describe_driver(info)}, heartbeat "
                         f"{info['age_s']:.0f} s ago): wait for it to end, or stop that driver first")


@contextmanager
def driver_lock(exp: Path, log=print):
    """Hold `exp` for this driver (see above); a running driver's lock is a SweepError, a stale one is taken over."""
    if str(exp) in _held:
        yield
        return
    path = exp / DRIVER
    for _ in range(10):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            info = read_driver(exp)
            if info is None:
                continue  # removed in between: try again
            check_not_running(exp)
            # stale: move it aside under a name of our own (only one taker's rename succeeds), then try again
            try:
                os.rename(path, exp / f".{DRIVER}.stale-{os.getpid()}")
                (exp / f".{DRIVER}.stale-{os.getpid()}").unlink()
                log(f"experiment {exp.name!r}: its last driver ({describe_driver(info)}) is gone; taking over "
                    f"its lock")
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w") as f:
            json.dump({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                       "heartbeat_s": HEARTBEAT_S}, f)
        break
    else:
        raise SweepError(f"experiment {exp.name!r}: could not take its lock {path}")
    _held.add(str(exp))
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(path, stop), daemon=True, name="babysweep-heartbeat")
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join()
        _held.discard(str(exp))
        path.unlink(missing_ok=True)


def _heartbeat(path: Path, stop: threading.Event):
    while not stop.wait(HEARTBEAT_S):
        try:
            os.utime(path)
        except OSError:
            pass


def driver_state(exp: Path) -> str:
    """'running (pid N)', or 'stopped' when no driver holds the experiment (ended, interrupted or killed)."""
    info = read_driver(exp)
    if info is None:
        return "stopped"
    if not driver_alive(info):
        return f"stopped (driver {describe_driver(info)} killed)"
    return f"running ({describe_driver(info)})"


# ---------------------------------------------------------------------------------------------- after a crash

def reconcile_with_table(exp: Path, log=print) -> list[str]:
    """Bring Ray's saved experiment state and babysweep's table to one truth before a resume. Returns the trial ids
    whose state in Ray's file was changed.

    A trial has ended when the table can prove it: a row the results-table callback marked ended (`ended`:
    completed, stopped by its scheduler, or error; sweep/results.py writes it from Ray's completion and error
    callbacks only), or, in a table written before `ended` existed, a trial in ERROR or one whose last epoch is the
    end of its schedule. Ray writes its state to a staging folder and copies it to storage in the background, so a
    driver killed at the wrong moment leaves a stored state a step or two old in which a trial HyperBand had just
    stopped is still PAUSED: for such a proven ending, the table is the later truth and is written into Ray's state
    (an errored trial then stays in ERROR unless `--retry-errored`: sweep/resume.py).

    Anything else the table shows TERMINATED it cannot prove (older versions copied the TERMINATED that Ray marks
    on the trials it stops because the driver is ending: a Ctrl-C), so Ray's stored state is trusted for it: the
    trial goes on from its latest checkpoint, and its row says so until it runs; unless no checkpoint of it is
    left to go on from, when the table's ending stands."""
    table, states = exp / TABLE, sorted(exp.glob("experiment_state-*.json"))
    if not table.exists() or not states:
        return []
    with tables_lock(exp):
        return _reconcile(exp, table, states[-1], log)


def _reconcile(exp, table, path, log):
    df = read_table(table)
    proven = ended_rows(df, schedule_end(exp))
    # an unproven ending of a trial that cannot go on anyway (it reported, and no checkpoint of it is left: pruned,
    # or a copy of the folder without its models) stays an ending: Ray would fail to restore it
    for trial_id, state, epoch in zip(df["trial_id"], df["state"],
                                      df["epoch"] if "epoch" in df.columns else [math.nan] * len(df)):
        if state == FINISHED and trial_id not in proven and not pd.isna(epoch) and not any(
                (exp / f"trial_{trial_id}").glob("checkpoint_*")):
            proven[trial_id] = state
    state = json.loads(path.read_text())
    stored = {}
    changed = []
    for entry in state["trial_data"]:
        trial = json.loads(entry[0])
        stored[trial["trial_id"]] = trial["status"]
        if trial["trial_id"] in proven and trial["status"] not in (FINISHED, ERROR):
            trial["status"] = proven[trial["trial_id"]]
            entry[0] = json.dumps(trial)
            changed.append(trial["trial_id"])
    if changed:
        write_text(path, json.dumps(state))
        log(f"{len(changed)} trial(s) had ended after Ray's last stored state: kept as they ended "
            f"({', '.join(f'{t} {proven[t]}' for t in changed)})")
    unproven = (df["state"] == FINISHED) & ~df["trial_id"].isin(list(proven)) & df["trial_id"].map(
        lambda t: stored.get(t) not in (None, FINISHED, ERROR))
    # The other way round: a trial the table saw start but Ray's stored state never recorded is gone for
    # good (Ray will not run it again; its searcher makes another suggestion instead). Say so in the table.
    lost = ~df["trial_id"].isin(list(stored)) & ~df["state"].isin([FINISHED, ERROR, LOST])
    if unproven.any() or lost.any():
        if unproven.any():
            df.loc[unproven, "state"] = df.loc[unproven, "trial_id"].map(stored)
            log(f"{int(unproven.sum())} trial(s) the table shows ended without proof (a driver stopped mid-run by "
                f"an earlier babysweep): they go on from their latest checkpoints, as Ray stored them "
                f"({', '.join(f'{t} {stored[t]}' for t in df.loc[unproven, 'trial_id'])})")
        if lost.any():
            df.loc[lost, "state"] = LOST
            log(f"{int(lost.sum())} trial(s) started after Ray's last stored state and cannot be resumed: marked "
                f"LOST ({', '.join(df.loc[lost, 'trial_id'])})")
        write_table(df, table)
    return changed


def schedule_end(exp: Path) -> float | None:
    """The budget at which a trial of `exp` has completed its schedule: its space's budget.max (None when the folder
    has no readable space)."""
    from search_spaces.loader import load_space
    from trainables.errors import UserError

    try:
        return float(load_space(exp / SPACE, searchable=False).budget_max)
    except (UserError, OSError, TypeError, ValueError, AttributeError):
        return None


def ended_rows(df, budget_max=None) -> dict:
    """{trial_id: TERMINATED or ERROR} of the table's trials whose ending the table proves (reconcile_with_table)."""
    ended = df["ended"] if "ended" in df.columns else None
    epoch = df["epoch"] if "epoch" in df.columns else None
    planned = df["config/num_epochs"] if "config/num_epochs" in df.columns else None
    out = {}
    for i, (trial_id, state) in enumerate(zip(df["trial_id"], df["state"])):
        if state not in (FINISHED, ERROR):
            continue
        if ended is not None and isinstance(ended.iloc[i], str):
            out[trial_id] = state  # written by Ray's completion or error callback
            continue
        # a row written before `ended` existed: an error, or the end of the trial's own schedule, is proof
        at = epoch.iloc[i] if epoch is not None else math.nan
        end = planned.iloc[i] if planned is not None and not pd.isna(planned.iloc[i]) else budget_max
        if state == ERROR or (end is not None and not pd.isna(at) and float(at) >= float(end) - 1e-9):
            out[trial_id] = state
    return out
