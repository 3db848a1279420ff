"""Atomic writes: the one way babysweep writes a file or publishes a folder.

A reader (a status call, a resumed driver, another trial) must never see half a file or half a folder, and a
process killed mid-write must leave the previous version in place. So everything is written under a unique
temporary name beside its destination (same filesystem) and then renamed into place, which POSIX makes
atomic. Concurrent writers of the same file each rename a complete copy: the last one wins."""
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import DataError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = _umask()  # read once: os.umask can only be read by setting it


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; on success it is renamed to `path`, on failure removed.

        with atomic_path("results.csv") as tmp:
            df.to_csv(tmp, index=False)
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~UMASK)  # mkstemp makes it private; the file it replaces was not
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path, text: str, encoding="utf-8") -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)


def write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_csv(path, df) -> None:
    """A pandas DataFrame as CSV, without its index."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def write_json(path, obj, indent=2, **kwargs) -> None:
    write_text(path, json.dumps(obj, indent=indent, **kwargs) + "\n")


def check_folder_path(out, option="") -> Path:
    """`out` as a Path; DataError (one line, naming `option` when given) unless it can be or become a folder: it is
    one, or is absent and the nearest existing folder above it is a folder, not a file."""
    out = Path(out)
    name = f"{option} {out}" if option else str(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"{name}: exists and is not a folder")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise DataError(f"{name}: cannot be made, {parent} is a file")
            break
    return out


@contextmanager
def staged_folder(out):
    """Build a folder under a temporary name beside `out`, then publish it in one rename.

    Yields a `Staging` whose `.path` is the folder to fill. On success the staging folder becomes `out` (an
    empty `out`, say one the user made, is replaced). If `out` appeared meanwhile (another process published
    the same thing first), `.published` is False, the staging copy is dropped and `out` is left as it is:
    the caller decides whether theirs will do. On failure nothing is left behind."""
    out = check_folder_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Staging(Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent)))
    os.chmod(staging.path, 0o777 & ~UMASK)  # mkdtemp makes it private: on a cluster others read it
    try:
        yield staging
        if out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        try:
            os.rename(staging.path, out)
            staging.published = True
        except OSError:
            if not out.exists():
                raise
            shutil.rmtree(staging.path, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging.path, ignore_errors=True)
        raise


class Staging:
    def __init__(self, path: Path):
        self.path = path
        self.published = False


def folder_is_free(out) -> bool:
    """True when `out` is absent or an empty folder: a place `staged_folder(out)` publishes into."""
    out = Path(out)
    return not out.exists() or (out.is_dir() and not any(out.iterdir()))


@contextmanager
def scratch_folder(prefix="babysweep-ckpt-"):
    """A private temporary folder (a checkpoint the reporter copies away, a family's space file); it goes on exit.

    A process killed outright (a lost worker, a SIGKILLed driver) cannot remove its own, so the folder's name
    carries its owner's PID and every new one first removes the leftovers of owners that no longer run."""
    remove_orphaned_scratch(prefix)
    folder = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def remove_orphaned_scratch(prefix, where=None) -> list[Path]:
    """Remove the `prefix<pid>-*` folders under `where` (the temp folder) of PIDs that no longer run; returns them.
    A PID that runs again (reused) keeps its folders: a leftover is never worth removing a live process's files."""
    removed = []
    for folder in Path(where or tempfile.gettempdir()).glob(f"{prefix}*-*"):
        pid = folder.name[len(prefix):].split("-", 1)[0]
        if not pid.isdigit() or process_runs(int(pid)) or not folder.is_dir() or folder.is_symlink():
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def process_runs(pid: int) -> bool:
    """True when a process `pid` exists on this machine (signal 0 checks without signalling)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it runs
        return True
    return True
