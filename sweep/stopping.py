"""Ending a Ray Tune run before it is finished, without losing a trial: Ctrl-C, SIGTERM, fail-fast, a full disk.

Every early end goes the one way Ray Tune ends a run cleanly: its step finishes, it saves its experiment state
with every trial as it stands (RUNNING, PAUSED, PENDING), then it stops the trials' workers. Ray marks the
trials it stops there TERMINATED in memory (not in the state it saved); the results table does not copy that
(sweep/results.py records an ending only from Ray's completion and error callbacks), so the table and Ray's
stored state agree that the interrupted trials go on at the next `babysweep resume`.

    SIGINT / SIGTERM, the first   stop after this step, save, end: `Interrupted` (exit 130 / 143)
    SIGINT / SIGTERM, the second  stop now (KeyboardInterrupt): Ray's state is its last periodic save, at most
                                  a few seconds old; reconcile_with_table (sweep/folder.py) covers the rest
    fail-fast                     the first trials all failed the same way before any report: `FailFast`
    a storage error               babysweep's own files cannot be written (disk full): `StorageError`

Ray's graceful end is its handler of SIGUSR1 (and, unless TUNE_DISABLE_SIGINT_HANDLER is set, of SIGINT),
installed while its run loop runs. babysweep sets TUNE_DISABLE_SIGINT_HANDLER and installs its own SIGINT and
SIGTERM handlers for the run: the first signal is remembered and handed to Ray's SIGUSR1 handler. A callback
that must end the run (fail-fast, a storage error) calls `request_stop` the same way."""
import os
import signal
import sys
import threading
from contextlib import contextmanager

from trainables.errors import StorageError

from .errors import FailFast, Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunStop:
    """Why the running driver is ending its run early: the first reason wins."""

    def __init__(self):
        self.signal = None   # the signal number that asked for it
        self.error = None    # a FailFast or StorageError to raise once Ray has saved its state
        self.reserve = None  # the space kept for Ray's last save (SpaceReserve), freed when the storage is full

    def clear(self):
        self.signal, self.error = None, None


class SpaceReserve:
    """A file of zeros in the experiment folder, made when a run starts and removed when it ends, that holds
    space for Ray's last save of its state: when the storage fills, it is removed first, so that the save Ray makes
    as the run ends (its trials as they stand) has room, instead of leaving its state cut short. A tenth of the
    free space, at most 16 MiB; none when the filesystem does not say."""
    NAME = ".space-reserve"

    def __init__(self, exp):
        from pathlib import Path

        self.path = Path(exp) / self.NAME
        try:
            free = os.statvfs(self.path.parent).f_bavail * os.statvfs(self.path.parent).f_frsize
            size = min(16 << 20, free // 10)
            with open(self.path, "wb") as f:
                if hasattr(os, "posix_fallocate"):  # blocks taken now, not when written
                    os.posix_fallocate(f.fileno(), 0, size)
                else:
                    f.write(b"\0" * size)
        except OSError:
            self.free()

    def free(self):
        try:
            self.path.unlink()
        except OSError:
            pass


STOP = RunStop()


def request_stop(error=None) -> bool:
    """Ask the running Ray Tune loop to end after its current step (saving its state first); `error` is raised by
    `stoppable` once it has. False when no Ray Tune loop runs now (nothing to ask)."""
    if error is not None and STOP.error is None:
        STOP.error = error
    if isinstance(error, StorageError) and STOP.reserve is not None:
        STOP.reserve.free()  # room for Ray's last save
    handler = signal.getsignal(signal.SIGUSR1)  # Ray Tune's while its loop runs (ray.tune.tune._setup_signal_catching)
    if not callable(handler) or handler is _on_signal:
        return False
    handler(signal.SIGUSR1, None)
    return True


def _on_signal(sig, frame):
    if STOP.signal is not None:  # the second: stop now, whatever Ray is doing
        raise KeyboardInterrupt
    STOP.signal = sig
    print(f"babysweep: {signal.Signals(sig).name}: stopping after this step, with every trial saved to resume "
          f"(again to stop at once)", file=sys.stderr, flush=True)
    if not request_stop():
        raise KeyboardInterrupt  # before or after Ray's loop: nothing runs that needs saving


@contextmanager
def stoppable(exp=None):
    """Run the Ray Tune loop inside with babysweep's ending rules (the module docstring); raises Interrupted,
    FailFast or StorageError after Ray saved its state, when the run was ended for one of them. With `exp`, the
    run holds a SpaceReserve there."""
    STOP.reserve = SpaceReserve(exp) if exp is not None else None
    try:
        with _stoppable():
            yield
    finally:
        if STOP.reserve is not None:
            STOP.reserve.free()
            STOP.reserve = None


@contextmanager
def _stoppable():
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        STOP.clear()
        yield
        _raise_if_stopped(None)
        return
    STOP.clear()
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    disabled = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    for sig in SIGNALS:
        signal.signal(sig, _on_signal)
    interrupted_now = False
    try:
        yield
    except KeyboardInterrupt:
        interrupted_now = True
    except Exception:
        if STOP.error is not None:  # what Ray raised on the way out is a consequence of it
            error = STOP.error
            STOP.clear()
            raise error from None
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if disabled is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = disabled
    _raise_if_stopped(interrupted_now)


def _raise_if_stopped(interrupted_now):
    sig, error = STOP.signal, STOP.error
    STOP.clear()
    if error is not None:
        raise error
    if sig is not None or interrupted_now:
        raise Interrupted(sig or signal.SIGINT, at_once=bool(interrupted_now))


__all__ = ["FailFast", "Interrupted", "StorageError", "request_stop", "stoppable", "STOP"]
