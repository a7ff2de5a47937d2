"""Errors a user can act on, and the exit codes the `ximagenet12` command leaves with for each kind."""

from __future__ import annotations

EXIT_FAULTS = 1  # the command ran and found faults: nothing built, a check failed, --strict and rejects
EXIT_USAGE = 2  # bad options or inputs: a missing file, an invalid value, a refused output folder
EXIT_AUTH = 3  # the Hub refused the token
EXIT_NOT_FOUND = 4  # a Hub repo or revision that does not exist
EXIT_NETWORK = 5  # the Hub could not be reached
EXIT_UPLOAD = 6  # an upload was cut off or refused
EXIT_DATA = 7  # data that is not what it claims: checksum mismatch, predictions that do not match a build
EXIT_MISSING_EXTRA = 8  # an optional dependency is not installed
EXIT_WRITE = 9  # an output could not be written (disk full, file size limit, read-only folder)
EXIT_INTERRUPTED = 130  # Ctrl-C


class XImageNet12Error(Exception):
    """An error with a one-line message naming the file or option and what is wrong, and its exit code."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class DataError(XImageNet12Error, ValueError):
    """Data that is not what it claims to be (a shard whose sha256 differs, predictions that do not fit a build)."""

    exit_code = EXIT_DATA


class MissingExtra(XImageNet12Error, ImportError):
    """An optional capability whose extra is not installed; the message says what to install."""

    exit_code = EXIT_MISSING_EXTRA

    def __init__(self, what: str, extra: str):
        super().__init__(f"{what} needs the '{extra}' extra: pip install 'ximagenet12[{extra}]'")
        self.extra = extra


def named_once(name: str, message: str) -> str:
    """`name: message`, with `name` once: many messages already start with the file or config they are about."""
    return message if message.startswith(f"{name}: ") else f"{name}: {message}"


def one_line(exc: BaseException) -> str:
    """`Type: first line of the message` (and the next, when the first ends with a colon)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    text = f"{lines[0]} {lines[1]}" if lines[0].endswith(":") and len(lines) > 1 else lines[0]
    return f"{type(exc).__name__}: {text}"
