"""Atomic checkpoint files and finding the last one (for ``--resume auto``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from sce_apps.atomic import atomic_write

CHECKPOINT_PATTERN = re.compile(r"^step-(\d{8})\.ckpt$")


def checkpoint_path(directory: Path, step: int) -> Path:
    """``<directory>/step-00001234.ckpt``."""
    return directory / f"step-{step:08d}.ckpt"


def save_atomic(payload: dict[str, Any], path: Path) -> None:
    """Write ``payload`` with ``torch.save`` to a temporary name in the same folder, fsync, then rename.

    A reader never sees a half-written checkpoint: the final name appears only once the file is complete.
    """
    atomic_write(path, lambda handle: torch.save(payload, handle))


def list_checkpoints(directory: Path) -> list[Path]:
    """Complete checkpoints of ``directory``, oldest step first (temporary files are ignored)."""
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := CHECKPOINT_PATTERN.match(p.name))]
    return [p for _, p in sorted(found)]


def last_checkpoint(directory: Path) -> Path | None:
    """The checkpoint with the highest step, or None."""
    checkpoints = list_checkpoints(directory)
    return checkpoints[-1] if checkpoints else None


def prune_checkpoints(directory: Path, keep: int, protect: Path | None = None) -> None:
    """Delete all but the ``keep`` most recent checkpoints (never ``protect``)."""
    for old in list_checkpoints(directory)[:-keep]:
        if old != protect:
            old.unlink(missing_ok=True)


def load_checkpoint(path: Path, expected_format: str = "sce-pretrain/1") -> dict[str, Any]:
    """Load a checkpoint of ``expected_format`` without unpickling arbitrary objects (``weights_only``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is damaged, or it is not a checkpoint of ``expected_format`` (e.g. a pretraining
            checkpoint given where a classifier checkpoint is expected).
    """
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a damaged file
        raise ValueError(f"cannot read checkpoint {path}: {error}") from error
    found = payload.get("format") if isinstance(payload, dict) else None
    if found != expected_format:
        raise ValueError(f"{path} is not a checkpoint of format {expected_format!r} (its format: {found!r})")
    return payload
