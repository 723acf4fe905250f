"""Atomic, symlink-safe file writes: every file the programs write goes through this module.

The content goes to a new temporary file created exclusively in the destination folder (``O_CREAT | O_EXCL |
O_NOFOLLOW`` under a random name, so an existing file or a planted symlink is never opened or followed), is
flushed and fsynced, and is then renamed over the destination: a reader sees the old file or the new one, never a
partial one. On any error the temporary file is removed and the destination is left as it was.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["OutOfSpaceError", "atomic_output", "atomic_write", "atomic_write_text"]

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class OutOfSpaceError(OSError):
    """A write failed for lack of space (full disk, quota, file size limit); the destination is left as it was."""

    def __str__(self) -> str:
        return str(self.strerror)


def _out_of_space(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) is a failed write for lack of space.

    ``torch.save`` reports a failed write as ``RuntimeError(... file write failed)`` without the ``errno``.
    """
    while error is not None:
        if isinstance(error, OSError) and error.errno in _NO_SPACE:
            return True
        if isinstance(error, RuntimeError) and "write failed" in str(error):
            return True
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return False


def _space_message(path: Path, tmp: Path, size_hint: int | None) -> str:
    written = tmp.stat().st_size if tmp.exists() else 0
    try:
        free = f"{shutil.disk_usage(path.parent).free / 2**20:.1f} MiB free"
    except OSError:
        free = "free space unknown"
    wanted = f" of about {size_hint / 2**20:.1f} MiB" if size_hint else ""
    return (
        f"no space left to write {path}: {written / 2**20:.1f} MiB written{wanted} when the write failed "
        f"({free} on its disk); the previous file, if any, is intact"
    )


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


def _discard(tmp: Path, path: Path, error: BaseException, size_hint: int | None) -> None:
    """Remove the temporary file of a failed write; raise :class:`OutOfSpaceError` when space ran out."""
    message = _space_message(path, tmp, size_hint) if _out_of_space(error) else None
    tmp.unlink(missing_ok=True)
    if message is not None:
        raise OutOfSpaceError(errno.ENOSPC, message) from error


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], Any], size_hint: int | None = None) -> Path:
    """Call ``write(file)`` on a new exclusive temporary file next to ``path``, fsync it, rename it to ``path``.

    Args:
        path: the destination.
        write: writes the content to the open binary file it is given.
        size_hint: the expected size in bytes, named in the error when space runs out.

    Raises:
        OutOfSpaceError: the disk (or quota, or file size limit) ran out; the message names ``path`` and how much
            was being written. The temporary file is removed; ``path`` is untouched.
    """
    path = Path(path)
    fd, tmp = _temporary(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        _discard(tmp, path, error, size_hint)
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
    except BaseException as error:
        _discard(tmp, target, error, None)
        raise
