class SweepError(Exception):
    """One-line, user-facing error naming the option or folder and the problem."""
