"""Atomic, symlink-safe file writes: every file the programs write goes through this module.

The content goes to a new temporary file created exclusively in the destination folder (``O_CREAT | O_EXCL |
O_NOFOLLOW`` under a random name, so an existing file or a planted symlink is never opened or followed), is
flushed and fsynced, and is then renamed over the destination: a reader sees the old file or the new one, never a
partial one. On any error the temporary file is removed and the destination is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["atomic_output", "atomic_write", "atomic_write_text"]


_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _temporary(path: Path, suffix: str = "") -> tuple[int, Path]:
    """A new file ``.NAME.tmp-RANDOM[suffix]`` next to ``path``, created exclusively (mode 0o666 less the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(8)}{suffix}")
        try:
            return os.open(tmp, _FLAGS, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path}: no free temporary name next to it")


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], Any]) -> Path:
    """Call ``write(file)`` on a new exclusive temporary file next to ``path``, fsync it, rename it to ``path``."""
    path = Path(path)
    fd, tmp = _temporary(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """For writers that take a file name (plots, videos): yield an exclusive temporary path, then rename it.

    ``suffix`` keeps the extension a writer may need to choose its format (e.g. ``".png"``).
    """
    target = Path(path)
    fd, tmp = _temporary(target, suffix)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
