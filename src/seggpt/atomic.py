"""Atomic file writes, shared by every part that writes user-visible files.

A failed or interrupted write never leaves a half-written file and never destroys an existing one: the
content goes to a temporary file beside the target, which is then moved into place with `os.replace`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Call `write(temp_path)` on a temp file beside `path`, then `os.replace` it into place.

    A failure (or interrupt) removes the temp file, so `path` is either the complete new file or untouched.
    The temp file keeps `path`'s suffix so that format detection by extension works.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the mode a plain open() would
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
