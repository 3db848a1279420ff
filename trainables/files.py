"""Atomic writes: the one way babysweep writes a file or publishes a folder.

A reader (a status call, a resumed driver, another trial) must never see half a file or half a folder, and a
process killed mid-write must leave the previous version in place. So everything is written under a unique
temporary name beside its destination (same filesystem) and then renamed into place, which POSIX makes
atomic. Concurrent writers of the same file each rename a complete copy: the last one wins."""
import errno
import fcntl
import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from .errors import DataError, StorageError

# OS errors that say the storage, not the input, is at fault: a full disk or quota, a read-only or failing mount
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG}


def storage_error(path, error: OSError) -> OSError:
    """`error` as a one-line StorageError naming `path` when the storage is at fault (STORAGE_ERRNOS, or a short
    write with no errno on a filesystem left with no room: numpy's "N requested and M written"), else as it is: a
    missing folder or a permission is the caller's to explain."""
    if isinstance(error, StorageError):
        return error
    if error.errno is None and out_of_space(path):
        error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    if error.errno not in STORAGE_ERRNOS:
        return error
    return StorageError.of(path, error, "nothing half-written was left; free space (or fix the mount) and run "
                                        "the command again")


def out_of_space(path, below=1 << 20) -> bool:
    """Whether the filesystem holding `path` (or its nearest existing parent) has less than `below` bytes free."""
    for folder in [Path(path), *Path(path).parents]:
        if folder.exists():
            try:
                stat = os.statvfs(folder)
            except OSError:
                return False
            return stat.f_bavail * stat.f_frsize < below
    return False


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
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise storage_error(path, e) from e
    os.close(fd)
    os.chmod(tmp, 0o666 & ~UMASK)  # mkstemp makes it private; the file it replaces was not
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise storage_error(path, e) from e
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


@contextmanager
def locked(lock_file, timeout=600.0, what=None):
    """Hold an exclusive lock on `lock_file` (created when absent) for a read-merge-write of files that more than
    one process writes (an experiment's evaluation.csv and results.csv: a running sweep's table writer and any
    number of `evaluate` runs). flock(2): released when the holder exits or is killed, so a dead holder never
    blocks the next; on Linux NFS it is a POSIX lock, which the NFS lock manager shares between nodes.
    Waits up to `timeout` seconds, then raises DataError naming `what` (default: the lock file)."""
    lock_file = Path(lock_file)
    fd = os.open(lock_file, os.O_CREAT | os.O_RDWR, 0o666 & ~UMASK)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise DataError(f"{what or lock_file}: still locked by another babysweep process after "
                                    f"{timeout:.0f} s") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


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
    try:
        staging = Staging(Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent)))
    except OSError as e:
        raise storage_error(out, e) from e
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
    except OSError as e:
        shutil.rmtree(staging.path, ignore_errors=True)
        original = e.__cause__ if isinstance(e, StorageError) and isinstance(e.__cause__, OSError) else e
        raise storage_error(out, original) from e  # named by the folder the user asked for, not our staging copy
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
