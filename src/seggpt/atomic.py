"""Atomic file writes, shared by every part that writes user-visible files.

A failed or interrupted write never leaves a half-written file and never destroys an existing one: the
content goes to a temporary file beside the target, which is then moved into place with `os.replace`.
A process killed outright (SIGKILL, power loss) cannot remove its temporary file; the temporary names carry the
writer's process id, so `clean_stale_temps` on the next run removes those of processes that are gone.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

TEMP_MARK = ".seggpt-tmp"  # in every temporary name: `.<target name>.seggpt-tmp<pid>-<random>[suffix]`
_TEMP_NAME = re.compile(r"^\..*" + re.escape(TEMP_MARK) + r"(\d+)-")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def normal_mode(directory: bool = False) -> int:
    """The mode a plain `open()` (0666) or `mkdir()` (0777) would give under the current umask."""
    return (0o777 if directory else 0o666) & ~_umask()


def make_temp(target: str | os.PathLike[str], *, directory: bool = False) -> Path:
    """A new, empty temporary file (or folder) beside `target`, named after it and this process, normal mode.

    The suffix of `target` is kept so that format detection by extension works.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}{TEMP_MARK}{os.getpid()}-"
    if directory:
        tmp = tempfile.mkdtemp(prefix=prefix, dir=target.parent)
    else:
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=target.suffix, dir=target.parent)
        os.close(fd)
    os.chmod(tmp, normal_mode(directory))  # mkstemp / mkdtemp make 0600 / 0700
    return Path(tmp)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def clean_stale_temps(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files and folders in `folder` left by seggpt processes that no longer run.

    Returns the removed paths. A missing folder, or one that cannot be listed, has nothing to clean.
    """
    removed: list[Path] = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None or _alive(int(match.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Call `write(temp_path)` on a temp file beside `path`, then `os.replace` it into place.

    A failure (or interrupt) removes the temp file, so `path` is either the complete new file or untouched.
    The temp file keeps `path`'s suffix so that format detection by extension works; the final file gets the
    mode a plain `open()` would give (0644 under the usual umask).
    """
    path = Path(path)
    try:
        tmp = make_temp(path)
    except OSError as err:
        raise OSError(err.errno, err.strerror, str(err.filename or path.parent)) from err
    try:
        write(tmp)
        os.chmod(tmp, normal_mode())  # `write` may have recreated the file
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if err.errno is None:
            raise
        raise OSError(err.errno, err.strerror, str(path)) from err  # name the file the user asked for
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
