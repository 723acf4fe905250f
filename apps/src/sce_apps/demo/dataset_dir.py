"""Atomic creation of a generated folder: build it under a temporary sibling name, then rename it into place."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def is_nonempty_dir(path: Path) -> bool:
    """Whether ``path`` is a folder with at least one entry.

    Raises:
        NotADirectoryError: If ``path`` exists and is not a folder.
    """
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"output path {path} exists and is not a folder")
    return path.is_dir() and any(path.iterdir())


def looks_generated(path: Path, names: set[str]) -> bool:
    """Whether every entry of folder ``path`` is one of ``names`` (what the generator writes)."""
    return all(entry.name in names for entry in path.iterdir())


def new_tmp_dir(out: Path) -> Path:
    """Create an empty temporary folder ``<out>.tmp-XXXX`` next to ``out`` (same file system, so renames are atomic)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{out.name}.tmp-", dir=out.parent))


def remove_tmp_dir(tmp: Path) -> None:
    """Delete a temporary folder, ignoring errors (used on failure paths)."""
    shutil.rmtree(tmp, ignore_errors=True)


def install_dir(tmp: Path, out: Path, replace: bool) -> None:
    """Rename the finished folder ``tmp`` to ``out``.

    An empty ``out`` is removed first. A non-empty ``out`` is only replaced when ``replace`` is true: it is first
    renamed aside to ``<out>.old-XXXX`` and deleted after ``tmp`` took its place, so ``out`` always holds either the
    old or the new complete folder.

    Raises:
        FileExistsError: If ``out`` is non-empty and ``replace`` is false (e.g. another process installed it first).
    """
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()
    old: Path | None = None
    if out.exists():
        if not replace:
            raise FileExistsError(f"output folder {out} already exists and is not empty")
        old = Path(tempfile.mkdtemp(prefix=f"{out.name}.old-", dir=out.parent))
        os.replace(out, old / out.name)
    try:
        os.rename(tmp, out)
    except OSError:
        if old is not None:
            os.replace(old / out.name, out)
            remove_tmp_dir(old)
        raise
    if old is not None:
        remove_tmp_dir(old)
