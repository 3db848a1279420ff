from trainables.errors import UserError


class SweepError(UserError):
    """One-line, user-facing error naming the option or folder and the problem."""


class FailFast(SweepError):
    """The first trials of a run all failed with the same error before any of them reported: the run was ended
    (every trial kept as it stood) instead of burning the rest of the sweep on the same failure."""
    exit_status = 1


class Interrupted(Exception):
    """The driver was asked to stop (SIGINT, SIGTERM) and stopped with every trial saved to resume. Not an error:
    the command line prints how to resume and exits 128 + the signal's number."""

    def __init__(self, signal_number, at_once=False):
        import signal

        self.signal_number = int(signal_number)
        self.at_once = at_once  # the second signal: stopped mid-step, from Ray's last periodic save
        self.exit_status = 128 + self.signal_number
        super().__init__(f"interrupted by {signal.Signals(self.signal_number).name}")
