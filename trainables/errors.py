"""The one error base of babysweep, in its lowest layer.

Every error meant for the user as it is (a bad option, file, parameter or folder) derives from `UserError`:
its message is one line naming the thing and the problem, and the `babysweep` command prints it and exits
with status 2, with no traceback. Anything else is a bug and keeps its traceback."""


class UserError(Exception):
    """One-line, user-facing error naming the option, file, parameter or folder and the problem."""


class ConfigError(UserError, ValueError):
    """A trainable's configuration: names the parameter (and the file or preset) and the problem."""


class DataError(UserError):
    """A corpus, prepared folder or evaluation file: names the file and the problem."""


class CheckpointError(UserError):
    """A trial's checkpoints: none of them can be read."""
