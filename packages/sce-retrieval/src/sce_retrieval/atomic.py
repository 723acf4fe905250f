"""Atomic, symlink-safe file writes: every file ``sce-retrieval`` writes goes through :func:`atomic_write`.

The content goes to a new temporary file created *exclusively* in the destination folder (``O_CREAT | O_EXCL |
O_NOFOLLOW`` under a random name, so an existing file or a planted symlink is never opened or followed), is flushed
and fsynced, and the temporary file is renamed over the destination (a reader sees the old file or the new one,
never a partial one). On any error the temporary file is removed and the destination is left as it was.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

# Names tried before giving up (a collision of 64 random bits only happens when someone plants files on purpose).
_ATTEMPTS = 100
_CREATE_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], Any]) -> Path:
    """Call ``write(file)`` on a new temporary file next to ``path``, fsync it, then rename it to ``path``.

    Readers never see a partially written file; on any error (also inside ``write``) the temporary file is removed
    and an existing ``path`` is unchanged. A symlink at ``path`` itself is replaced, never written through.

    Args:
        path: Destination; its folder must exist.
        write: Writes the content to the binary file it is given.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        FileNotFoundError: The destination folder does not exist.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path}: folder {path.parent} does not exist")
    fd, tmp = create_temporary(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


def create_temporary(path: Path) -> tuple[int, Path]:
    """Create a new empty file ``.NAME.tmp-PID-RANDOM`` next to ``path``, exclusively, and open it for writing.

    The file is created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` and mode ``0o666`` less the umask (like ``open``):
    an existing file or symlink under the chosen name is never opened, another random name is tried instead.

    Args:
        path: The destination the temporary file stands in for.

    Returns:
        ``(file descriptor, temporary path)``; the caller closes the descriptor and renames or removes the file.

    Raises:
        FileExistsError: No free name was found (someone is planting files under every candidate name).
    """
    for _ in range(_ATTEMPTS):
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{random_token()}")
        try:
            return os.open(tmp, _CREATE_FLAGS, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path}: no free temporary name in {path.parent} after {_ATTEMPTS} attempts")


def random_token() -> str:
    """16 random hexadecimal digits, the unique part of a temporary name."""
    return secrets.token_hex(8)


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable (best effort: some platforms and file systems cannot open or fsync a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
