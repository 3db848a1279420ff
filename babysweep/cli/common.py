"""Helpers the command modules share."""
import sys

from trainables.errors import ConfigError, UserError

from trainables.names import DEFAULT_STORAGE  # noqa: E402,F401  (a module of constants: --help stays fast)


def parse_sets(pairs) -> dict:
    """`--set key=value` pairs; values read as YAML scalars, so 3e-4 is a float and cosine a string."""
    import yaml

    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {pair}: expected key=value")
        parsed = yaml.safe_load(value)
        if isinstance(parsed, str):  # PyYAML reads 1e-3 (no dot) as a string; a number was meant
            try:
                parsed = float(parsed)
            except ValueError:
                pass
        out[key] = parsed
    return out


def log_to_stderr(message):
    print(message, file=sys.stderr)


def verbosity(args) -> int:
    """--quiet: nothing while it runs (0); default: a progress line (1); --verbose: Ray's own output (2)."""
    return 0 if args.quiet else 2 if getattr(args, "verbose", False) else 1


def storage_flag(storage) -> str:
    return f" --storage {storage}" if storage != DEFAULT_STORAGE else ""


def run(args) -> int:
    """Run a parsed command with babysweep's error style: a UserError is one line on stderr and exit status 2."""
    from trainables.files import STORAGE_ERRNOS

    from sweep.errors import Interrupted

    try:
        return args.func(args) or 0
    except Interrupted as e:  # a command that does not print its experiment's status itself (launch, resume do)
        exp = getattr(e, "experiment", None)
        hint = f"; continue with `babysweep resume {exp.name} --storage {exp.parent}`" if exp is not None else ""
        print(f"babysweep: {e}{hint}", file=sys.stderr)
        return e.exit_status
    except UserError as e:
        print(f"babysweep: error: {e}", file=sys.stderr)
        return e.exit_status
    except KeyboardInterrupt:
        print("babysweep: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`babysweep status NAME | head`): nothing left to say, and nobody to say it to;
        # stdout is pointed at /dev/null so that Python's own flush at exit does not fail again
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:  # after BrokenPipeError, which is one
        # the machine's fault (a full disk, a read-only mount) wherever it struck: one line naming the file; any
        # other OSError is a bug's, and keeps its traceback
        if e.errno not in STORAGE_ERRNOS:
            raise
        where = f"{e.filename}: " if e.filename else ""
        print(f"babysweep: error: {where}{e.strerror or e}; free space (or fix the mount) and run the command "
              f"again", file=sys.stderr)
        return 1
