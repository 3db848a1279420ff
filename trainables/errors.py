"""The one error base of babysweep, in its lowest layer.

Every error meant for the user as it is (a bad option, file, parameter or folder) derives from `UserError`:
its message is one line naming the thing and the problem, and the `babysweep` command prints it and exits
with status 2, with no traceback. Anything else is a bug and keeps its traceback."""


class UserError(Exception):
    """One-line, user-facing error naming the option, file, parameter or folder and the problem."""
    exit_status = 2  # bad input; what the command line exits with when it prints one


class StorageError(UserError, OSError):
    """A file could not be written or read for a reason of the machine's, not the input's (a full disk, a quota,
    a read-only or vanished mount): names the path and the OS error. Nothing half-written is left where a reader
    would take it as whole; once the cause is fixed the same command (or a resume) goes on."""
    exit_status = 1

    @classmethod
    def of(cls, path, error: OSError, then: str = "") -> "StorageError":
        """`path`: `error`'s text, and what to do `then`; an OSError too (errno kept), so handlers of OSError
        written before it existed still catch it."""
        what = error.strerror or str(error) or type(error).__name__
        made = cls(f"{path}: {what}" + (f"; {then}" if then else ""))
        made.errno = error.errno
        return made


class ConfigError(UserError, ValueError):
    """A trainable's configuration: names the parameter (and the file or preset) and the problem."""


class DataError(UserError):
    """A corpus, prepared folder or evaluation file: names the file and the problem."""


class CheckpointError(UserError):
    """A trial's checkpoints: none of them can be read."""
