"""The one checkpoint format of every program: versioned, checksummed, written atomically, found again on resume.

A checkpoint is a ``torch.save``'d dict::

    {"format": "sce-checkpoint", "version": 2, "program": "pretrain" | "linear" | "finetune", "step": int,
     "settings": {...}, "run": {...}, "checksum": "sha256:...", <the program's state: "learner", "model",
     "optimizer", "sampler", "rng", ...>}

``checksum`` is a SHA-256 over every other entry (tensor bytes, dtypes and shapes, and the other values), computed
at save and checked at every load: a flipped byte in a tensor is refused instead of loaded. Reading uses
``weights_only`` (no arbitrary objects are unpickled).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from sce_apps.engine.atomic import atomic_write

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "CheckpointError",
    "checkpoint_path",
    "list_checkpoints",
    "load_checkpoint",
    "newest_readable_checkpoint",
    "payload_checksum",
    "prune_checkpoints",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "sce-checkpoint"
CHECKPOINT_VERSION = 2
CHECKPOINT_PATTERN = re.compile(r"^step-(\d{8})\.ckpt$")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: damaged, of another program, or of an unknown format version."""


def checkpoint_path(directory: Path, step: int) -> Path:
    """``<directory>/step-00001234.ckpt``."""
    return directory / f"step-{step:08d}.ckpt"


def _digest(value: Any, sha: Any) -> None:
    """Feed ``value`` into ``sha`` in a canonical order: tensors by dtype, shape and bytes, dicts by sorted key."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach().to("cpu").contiguous()
        sha.update(f"T{tensor.dtype}{tuple(tensor.shape)}".encode())
        if tensor.numel():
            sha.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        sha.update(f"D{len(value)}".encode())
        for key in sorted(value, key=repr):
            sha.update(repr(key).encode())
            _digest(value[key], sha)
    elif isinstance(value, list | tuple):
        sha.update(f"L{len(value)}".encode())
        for item in value:
            _digest(item, sha)
    else:
        sha.update(f"V{value!r}".encode())


def payload_checksum(payload: dict[str, Any]) -> str:
    """``sha256:<hex>`` over every entry of ``payload`` but ``checksum``."""
    sha = hashlib.sha256()
    _digest({k: v for k, v in payload.items() if k != "checksum"}, sha)
    return f"sha256:{sha.hexdigest()}"


def _tensor_bytes(value: Any) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(_tensor_bytes(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(_tensor_bytes(v) for v in value)
    return 0


def save_checkpoint(path: Path, program: str, step: int, state: dict[str, Any], **extra: Any) -> Path:
    """Write a checkpoint of ``program`` at ``step`` atomically, with its checksum.

    Args:
        path: the file to write (its folder is created).
        program: ``pretrain``, ``linear`` or ``finetune``.
        step: optimizer steps done.
        state: the program's state entries (``learner``, ``optimizer``, ...).
        **extra: more top-level entries (``settings``, ``run``).

    Raises:
        OutOfSpaceError: the disk ran out; the message names ``path`` and the size; older checkpoints are intact.
    """
    payload: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "program": program,
        "step": step,
        **extra,
        **state,
    }
    payload["checksum"] = payload_checksum(payload)
    return atomic_write(path, lambda handle: torch.save(payload, handle), size_hint=_tensor_bytes(payload))


def load_checkpoint(path: Path, programs: Iterable[str] = ("pretrain",), verify: bool = True) -> dict[str, Any]:
    """Read a checkpoint of one of ``programs``, checking its format version and its checksum.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: the file is damaged (unreadable, or its content does not match its checksum), or it is
            not a checkpoint of one of ``programs`` (e.g. a pretraining checkpoint given to a classifier).
    """
    programs = tuple(programs)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a damaged file
        raise CheckpointError(f"{path} is damaged: it cannot be read ({error})") from error
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(
            f"{path} is not an sce checkpoint (format {found!r}; expected {CHECKPOINT_FORMAT!r}, written by "
            f"sce {' / '.join(programs)})"
        )
    if payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {payload.get('version')!r}; this sce reads version {CHECKPOINT_VERSION}"
        )
    if payload.get("program") not in programs:
        raise CheckpointError(
            f"{path} is a checkpoint of sce {payload.get('program')}, not of sce {' / '.join(programs)}"
        )
    if verify and payload.get("checksum") != payload_checksum(payload):
        raise CheckpointError(f"{path} is damaged: its content does not match the checksum stored in it")
    return payload


def list_checkpoints(directory: Path) -> list[Path]:
    """Complete periodic checkpoints of ``directory``, oldest step first (temporary files are ignored)."""
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := CHECKPOINT_PATTERN.match(p.name))]
    return [p for _, p in sorted(found)]


def newest_readable_checkpoint(
    directory: Path, programs: Iterable[str], warn: Callable[[str], None] = print
) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint of ``directory`` that loads and matches its checksum, with its content.

    Damaged ones (a truncated file after a crash, a flipped byte) are skipped with a ``warn`` line naming each and
    why. None when there is no readable checkpoint.
    """
    for path in reversed(list_checkpoints(directory)):
        try:
            return path, load_checkpoint(path, programs)
        except CheckpointError as error:
            warn(f"skipping damaged checkpoint: {error}")
    return None


def prune_checkpoints(directory: Path, keep: int, protect: Path | None = None) -> None:
    """Delete all but the ``keep`` most recent periodic checkpoints (never ``protect``)."""
    for old in list_checkpoints(directory)[:-keep]:
        if old != protect:
            old.unlink(missing_ok=True)
