class DataError(Exception):
    """One-line, user-facing error naming the file and the problem."""
