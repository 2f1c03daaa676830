"""The package's own error types.

Every error a user can cause (bad options, missing or broken files) is a
TwolayerError with a one-line message saying what was wrong and what to do;
the command line prints that line and exits non-zero, never a traceback.
"""


class TwolayerError(Exception):
    """Base class: a problem the user can act on."""

    exit_code = 1  # what the command line exits with
    label = "error: "  # what it prints before the message


class Stopped(TwolayerError):
    """Work was interrupted on purpose; what was done is kept."""

    label = ""
    exit_code = 130


class ConfigError(TwolayerError, ValueError):
    """An option or hyperparameter cannot be used: out of range, of the
    wrong kind, or more than this machine or this data allows."""


class UsageError(ConfigError):
    """A bad option, as the user wrote it: unknown, unreadable, out of the
    option table's range, in conflict with another, or bad in a --config or
    --space file. The command line exits 2 for it, as argparse does for
    what it cannot read, so every bad option has one exit status."""

    exit_code = 2


class DataError(TwolayerError):
    """A dataset is missing, unknown, malformed or inconsistent."""


class BundleError(TwolayerError):
    """A model file is missing, truncated, altered or not a twolayer bundle."""


class LearnerError(TwolayerError):
    """A learner's network (its file, its class or what its code returned)
    is missing or broken; the message names the file, and the line where
    its code failed."""


def first_line(e: BaseException) -> str:
    """"ValueError: its message's first line" (the type alone for an empty message)."""
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__


def remedy(error: OSError) -> str:
    """What to do about a file that could not be written: 'free some space',
    'make it writable', 'raise the file-size limit (ulimit -f)' (EFBIG: a
    checkpoint larger than `ulimit -f`, said 'fix that'), or '' when the
    error is not of those kinds."""
    import errno

    return {errno.ENOSPC: "free some space", errno.EDQUOT: "free some space", errno.EROFS: "make it writable",
            errno.EACCES: "make it writable", errno.EPERM: "make it writable",
            errno.EFBIG: "raise the file-size limit (ulimit -f)"}.get(error.errno or 0, "")


class WriteError(TwolayerError, OSError):
    """A file could not be written (a full or read-only disk, ...): the
    message names it, what was saved before it (`kept`; intact: writes are
    atomic), the remedy, and how to go on once it can be written (`then`).
    An OSError too, with the operating system's errno and filename."""

    def __init__(self, error: OSError, kept: str, then: str) -> None:
        where = " -> ".join(str(p) for p in (error.filename, error.filename2) if p is not None)
        what = error.strerror or str(error)
        super().__init__(f"{where + ': ' if where else ''}{what}; {kept}; {remedy(error) or 'fix that'}, then {then}")
        self.errno, self.strerror, self.filename = error.errno, error.strerror, error.filename

    def __str__(self) -> str:  # the message, not OSError's "[Errno 28] ..."
        return str(self.args[0])
