from trainables.errors import UserError


class SweepError(UserError):
    """One-line, user-facing error naming the option or folder and the problem."""
