"""Atomic, symlink-safe file writes: write a new temporary file in the same folder, flush to disk, then rename.

Temporary files are created *exclusively* (``O_CREAT | O_EXCL | O_NOFOLLOW``) under a random name
``.NAME.tmp-PID-RANDOM``, so an existing file or a planted symlink is never opened or followed; they still match the
``.*.tmp-*`` pattern that a build removes after an interrupted run. On any error the temporary file is removed and
the destination keeps its old content.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

__all__ = ["atomic_write_bytes", "atomic_write_json", "atomic_write_npy", "temporary_path"]

# Names tried before giving up (64 random bits only collide when someone plants files on purpose).
_ATTEMPTS = 100
_CREATE_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def temporary_path(path: Path) -> Path:
    """Create a new empty temporary file for ``path`` (same folder, so the rename is atomic) and return its name.

    The file is created exclusively under a fresh random name (never an existing file or symlink), with mode
    ``0o666`` less the umask. The caller writes it, then renames it over ``path`` or deletes it.

    Args:
        path: The destination the temporary file stands in for; its folder must exist.

    Returns:
        The temporary file, ``.NAME.tmp-PID-RANDOM`` next to ``path``.
    """
    fd, tmp = _create_temporary(Path(path))
    os.close(fd)
    return tmp


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    _atomic_write(Path(path), lambda handle: handle.write(data))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented UTF-8 JSON to ``path`` atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))


def atomic_write_npy(path: str | Path, array: np.ndarray) -> None:
    """Save ``array`` in ``.npy`` format to ``path`` atomically (no pickling)."""
    _atomic_write(Path(path), lambda handle: np.save(handle, np.ascontiguousarray(array), allow_pickle=False))


def _atomic_write(path: Path, write: Callable[[BinaryIO], Any]) -> None:
    """Call ``write`` on a new exclusive temporary file, fsync it and rename it to ``path``; clean up on error."""
    fd, tmp = _create_temporary(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _create_temporary(path: Path) -> tuple[int, Path]:
    """Create and open ``.NAME.tmp-PID-RANDOM`` next to ``path`` exclusively; another name if that one exists."""
    for _ in range(_ATTEMPTS):
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{_random_token()}")
        try:
            return os.open(tmp, _CREATE_FLAGS, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path}: no free temporary name in {path.parent} after {_ATTEMPTS} attempts")


def _random_token() -> str:
    """16 random hexadecimal digits, the unique part of a temporary name."""
    return secrets.token_hex(8)
