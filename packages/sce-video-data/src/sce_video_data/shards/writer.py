"""Writer of one shard: items of JPEG frames appended to one binary file, plus the shard's own index.

The writer is generic over *items of frames*: a video is an item of many frames, an image an item of one frame.
The binary is written under a temporary name and renamed when :meth:`ShardWriter.commit` runs; the per-shard index
(``shard-NNNNN.npz``) is written last, so its presence marks a complete shard. The writer records the sha256 of the
whole binary and the CRC-32 of every frame (``frame_crc32``, checked by the reader before decoding). A full disk
raises :class:`~sce_video_data.shards.atomic.NoSpaceError` naming the shard file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sce_video_data.shards.atomic import atomic_write_bytes, close_after_error, reporting_no_space, temporary_path
from sce_video_data.shards.format import FRAME_ARRAYS, shard_file, sidecar_file

__all__ = ["EncodedItem", "ShardWriter", "read_sidecar", "sidecar_is_complete"]


@dataclass
class EncodedItem:
    """One item ready to be stored: its JPEG frames and metadata.

    Attributes:
        jpegs: Encoded frames, in order.
        times: Frame timestamps in seconds, relative to the first frame.
        fps: Frame rate used for clip index math.
        duration: Duration in seconds.
        cfr: Whether frame ``i`` is at ``i / fps`` (constant frame rate).
        width: Stored frame width.
        height: Stored frame height.
        record: JSON-able metadata kept in the manifest (source path, source size, ...).
    """

    jpegs: list[bytes]
    times: list[float]
    fps: float
    duration: float
    cfr: bool
    width: int
    height: int
    record: dict[str, Any] = field(default_factory=dict)


class ShardWriter:
    """Append items to shard number ``shard`` of the folder ``root``; call :meth:`commit` when done."""

    def __init__(self, root: str | Path, shard: int) -> None:
        self.root, self.shard = Path(root), shard
        self.path = shard_file(root, shard)
        with reporting_no_space(self.path.parent, 0):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = temporary_path(self.path)
        self._handle = open(self._tmp, "wb")  # noqa: SIM115 - closed in commit/abort
        self._sha = hashlib.sha256()
        self._offset = 0
        self._frames: dict[str, list[Any]] = {name: [] for name in FRAME_ARRAYS}
        self._items: list[dict[str, Any]] = []
        self._failures: list[dict[str, Any]] = []

    def add(self, item_id: int, label: int, item: EncodedItem) -> None:
        """Append ``item`` (input number ``item_id`` of the build plan, with class ``label``)."""
        if len(item.jpegs) != len(item.times) or not item.jpegs:
            raise ValueError(f"item {item_id}: {len(item.jpegs)} frames but {len(item.times)} timestamps")
        with reporting_no_space(self.path, sum(len(data) for data in item.jpegs)):
            for data in item.jpegs:
                self._handle.write(data)
                self._sha.update(data)
                self._frames["frame_offset"].append(self._offset)
                self._frames["frame_length"].append(len(data))
                self._frames["frame_crc32"].append(zlib.crc32(data))
                self._offset += len(data)
        self._frames["frame_time"].extend(item.times)
        fields = {k: getattr(item, k) for k in ("fps", "duration", "cfr", "width", "height")}
        self._items.append({"id": item_id, "label": label, "num_frames": len(item.jpegs), **fields, **item.record})

    def add_failure(self, item_id: int, path: str, reason: str) -> None:
        """Record that input ``item_id`` (``path``) could not be read."""
        self._failures.append({"id": item_id, "path": path, "reason": reason})

    def commit(self) -> dict[str, Any]:
        """Close, rename the binary into place, write the per-shard index; return the shard record."""
        with reporting_no_space(self.path, self._offset):
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
        os.replace(self._tmp, self.path)
        record: dict[str, Any] = {"name": self.path.name, "bytes": self._offset, "sha256": self._sha.hexdigest()}
        record.update(num_items=len(self._items), num_frames=len(self._frames["frame_offset"]))
        meta = {"shard": record, "items": self._items, "failures": self._failures}
        arrays: dict[str, Any] = {name: np.asarray(v, dtype=FRAME_ARRAYS[name]) for name, v in self._frames.items()}
        arrays["meta"] = np.array(json.dumps(meta))
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write_bytes(sidecar_file(self.root, self.shard), buffer.getvalue())
        return record

    def abort(self) -> None:
        """Close and delete the temporary binary (after a failed write too)."""
        close_after_error(self._handle)
        self._tmp.unlink(missing_ok=True)


def read_sidecar(root: str | Path, shard: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Load the per-shard index of shard ``shard``: ``(meta, frame arrays)``.

    A shard committed by a format-1 writer (resumed by this one) has no ``frame_crc32``: it is computed from the
    shard file, which the build checked to have the recorded size.
    """
    with np.load(sidecar_file(root, shard), allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        arrays = {name: data[name] for name in FRAME_ARRAYS if name in data.files}
    if "frame_crc32" not in arrays:
        with open(shard_file(root, shard), "rb") as handle:
            content = handle.read()
        ends = arrays["frame_offset"] + arrays["frame_length"]
        crcs = [zlib.crc32(content[o:e]) for o, e in zip(arrays["frame_offset"].tolist(), ends.tolist(), strict=True)]
        arrays["frame_crc32"] = np.asarray(crcs, dtype=np.uint32)
    return meta, arrays


def sidecar_is_complete(root: str | Path, shard: int) -> bool:
    """Whether shard ``shard`` was committed: its per-shard index exists and its binary has the recorded size."""
    if not sidecar_file(root, shard).is_file() or not shard_file(root, shard).is_file():
        return False
    try:
        meta, _ = read_sidecar(root, shard)
    except (OSError, ValueError, KeyError):
        return False
    return shard_file(root, shard).stat().st_size == meta["shard"]["bytes"]
