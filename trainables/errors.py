class ConfigError(ValueError):
    """One-line, user-facing error naming the parameter (and the file or preset) and the problem."""
