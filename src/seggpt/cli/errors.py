"""One error discipline for every command: an expected failure is one line naming the file and what to do, exit 2.

Expected failures: bad arguments and files (ValueError, FileNotFoundError), refused outputs, and the
operating system's answers while reading or writing (permission denied, disk full, a file where a folder
was expected ...), and running out of memory. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import os

import torch

from seggpt.atomic import TEMP_MARK


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program was (as Ctrl-C raises KeyboardInterrupt), so that every temporary file
    is removed on the way out. Printed as one line, exit code 143 (128 + SIGTERM)."""


def raise_terminated(signum: int, frame: object) -> None:
    """The SIGTERM handler of the `seggpt` command."""
    raise Terminated


class NothingDoneError(Exception):
    """The run ended without a failure of its own but produced nothing (every input failed, or none was found).

    Printed as one line, exit code 1.
    """


_ADVICE = {
    errno.ENOSPC: "free some space or choose an output on another disk",
    errno.EDQUOT: "free some space or choose an output on another disk",
    errno.EACCES: "choose a location you can write to, or fix its permissions",
    errno.EPERM: "choose a location you can write to, or fix its permissions",
    errno.EROFS: "the file system is read-only: choose an output on a writable disk",
    errno.EISDIR: "expected a file, got a folder",
    errno.ENOTDIR: "a part of the path is a file, expected a folder",
    errno.ENAMETOOLONG: "choose a shorter name",
}


def _user_path(filename: object) -> str:
    """The file the user named: a temporary `.NAME.seggpt-tmp<pid>-...` file stands for NAME."""
    text = os.fsdecode(filename) if isinstance(filename, str | bytes | os.PathLike) else str(filename)
    head, name = os.path.split(text)
    if name.startswith(".") and TEMP_MARK in name:
        return os.path.join(head, name[1 : name.index(TEMP_MARK)])
    return text


def describe(err: BaseException) -> str | None:
    """The one-line message for an expected failure, or None for a bug (which should keep its traceback).

    A message of several lines (the library's report of a checkpoint that does not fit, a parser's) is joined
    into one.
    """
    if isinstance(err, CLIError | ValueError | NothingDoneError):
        return " ".join(str(err).split())
    if isinstance(err, torch.OutOfMemoryError | MemoryError):
        return "out of memory; use a smaller --batch-size, smaller images or another device"
    if isinstance(err, OSError):
        if err.errno is None:
            return str(err) or type(err).__name__
        where = f": {_user_path(err.filename)}" if err.filename is not None else ""
        advice = _ADVICE.get(err.errno)
        if isinstance(err, FileNotFoundError) and err.filename is None and err.args:
            return str(err.args[0])
        return f"{err.strerror or os.strerror(err.errno)}{where}" + (f" ({advice})" if advice else "")
    return None
