"""The analyses' user-facing error (a trainables.errors.UserError: one line, exit status 2)."""
from trainables.errors import UserError


class AnalysisError(UserError):
    """One-line, user-facing error naming the file or option and the problem."""
