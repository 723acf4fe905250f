"""Atomic, symlink-safe file writes: write a new temporary file in the same folder, flush to disk, then rename.

Temporary files are created *exclusively* (``O_CREAT | O_EXCL | O_NOFOLLOW``) under a random name
``.NAME.tmp-PID-RANDOM``, so an existing file or a planted symlink is never opened or followed; they still match the
``.*.tmp-*`` pattern that a build removes after an interrupted run. On any error the temporary file is removed and
the destination keeps its old content.

A write that fails for lack of space (``ENOSPC``, ``EDQUOT``, or ``EFBIG`` past a file size limit) raises
:class:`NoSpaceError`, one line naming the file, the bytes being written and the free space.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

__all__ = [
    "NoSpaceError",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_npy",
    "close_after_error",
    "reporting_no_space",
    "temporary_path",
]

# "No space": the disk is full, the quota is used up, or the file would pass the size limit (RLIMIT_FSIZE; Python
# ignores SIGXFSZ, so the write fails with EFBIG).
NO_SPACE_ERRNOS = frozenset(getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG") if hasattr(errno, name))


class NoSpaceError(OSError):
    """A write failed for lack of space; the message is one line naming the file, the size and the free space.

    Attributes:
        path: The file being written (the destination, not its temporary name).
        size: Bytes being written when the write failed.
        free: Free bytes on the file's disk (``shutil.disk_usage``), or None when unknown.
    """

    def __init__(self, path: str | Path, size: int, code: int, strerror: str, free: int | None) -> None:
        super().__init__(code, strerror, str(path))
        self.path, self.size, self.free = Path(path), size, free

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.path, self.size, self.errno, self.strerror, self.free)

    def __str__(self) -> str:
        free = "unknown free space" if self.free is None else f"{self.free:,} bytes free"
        name = errno.errorcode.get(self.errno or 0, "?")
        what = f"writing {self.size:,} bytes" if self.size else "creating it"
        return (
            f"no space to write {self.path}: {what} failed with {self.strerror} ({name}), "
            f"{free} on its disk; free some space (or raise the quota or file size limit) and rerun the same "
            "command to resume (complete shards are kept)"
        )


@contextmanager
def reporting_no_space(path: str | Path, size: int) -> Iterator[None]:
    """Turn an ``OSError`` of lack of space raised inside the block into :class:`NoSpaceError` for ``path``."""
    try:
        yield
    except NoSpaceError:
        raise
    except OSError as err:
        code = err.errno
        if code is not None and code in NO_SPACE_ERRNOS:
            free = _free_bytes(Path(path).parent)
            raise NoSpaceError(path, size, code, err.strerror or os.strerror(code), free) from err
        raise


def _free_bytes(folder: Path) -> int | None:
    """Free bytes on the disk of ``folder`` (None when unknown)."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


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
    _atomic_write(Path(path), lambda handle: handle.write(data), len(data))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented UTF-8 JSON to ``path`` atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))


def atomic_write_npy(path: str | Path, array: np.ndarray) -> None:
    """Save ``array`` in ``.npy`` format to ``path`` atomically (no pickling)."""
    array = np.ascontiguousarray(array)
    _atomic_write(Path(path), lambda handle: np.save(handle, array, allow_pickle=False), array.nbytes)


def _atomic_write(path: Path, write: Callable[[BinaryIO], Any], size: int) -> None:
    """Call ``write`` on a new exclusive temporary file, fsync it and rename it to ``path``; clean up on error.

    ``size`` (the bytes to write) is reported by :class:`NoSpaceError` when the disk is full.
    """
    fd, tmp = _create_temporary(path)
    try:
        with reporting_no_space(path, size):
            handle = os.fdopen(fd, "wb")
            try:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            except BaseException:
                close_after_error(handle)
                raise
            handle.close()
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def close_after_error(handle: BinaryIO) -> None:
    """Close ``handle`` after a failed write: its buffer cannot be flushed either, and that error is not raised again.

    The file descriptor is closed even when flushing the buffer fails.
    """
    with contextlib.suppress(OSError):
        handle.close()


def _create_temporary(path: Path) -> tuple[int, Path]:
    """Create and open ``.NAME.tmp-PID-RANDOM`` next to ``path`` exclusively; another name if that one exists."""
    for _ in range(_ATTEMPTS):
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{_random_token()}")
        try:
            with reporting_no_space(path, 0):  # no inode left
                return os.open(tmp, _CREATE_FLAGS, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path}: no free temporary name in {path.parent} after {_ATTEMPTS} attempts")


def _random_token() -> str:
    """16 random hexadecimal digits, the unique part of a temporary name."""
    return secrets.token_hex(8)
