"""On-disk layout of a shard folder and its memory-mapped numpy index.

A shard folder holds::

    manifest.json          format version, build parameters, class names, per-shard sha256, per-item records
    index/meta.json        small: format version, counts, class names (all a reader needs besides the arrays)
    index/<name>.npy       the flat index arrays below, opened with np.load(mmap_mode="r")
    shards/shard-00000.bin concatenated JPEG frames of the items of shard 0 (one file per shard)
    shards/shard-00000.npz per-shard index written when the shard completes (build state, merged into index/)
    plan.json              deterministic assignment of inputs to shards (for resuming)
    failures.jsonl         one JSON line per input that could not be read: {"path", "reason"}

An *item* is a sequence of frames (a video, or a one-frame image). Items are numbered in index order; their frames
are contiguous in the global frame table: item ``i`` owns frames ``item_first_frame[i] + range(item_num_frames[i])``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sce_video_data.shards.atomic import atomic_write_json, atomic_write_npy

__all__ = [
    "FAILURES_FILE",
    "FORMAT_VERSION",
    "FRAME_ARRAYS",
    "INDEX_DIR",
    "ITEM_ARRAYS",
    "MANIFEST_FILE",
    "PLAN_FILE",
    "SHARD_DIR",
    "ShardIndex",
    "save_index",
    "shard_file",
    "sidecar_file",
]

FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
PLAN_FILE = "plan.json"
FAILURES_FILE = "failures.jsonl"
INDEX_DIR = "index"
SHARD_DIR = "shards"

ITEM_ARRAYS: dict[str, type] = {
    "item_shard": np.int32,
    "item_first_frame": np.int64,
    "item_num_frames": np.int32,
    "item_fps": np.float64,
    "item_duration": np.float64,
    "item_label": np.int64,
    "item_cfr": np.bool_,
    "item_width": np.int32,
    "item_height": np.int32,
}
FRAME_ARRAYS: dict[str, type] = {"frame_offset": np.int64, "frame_length": np.int32, "frame_time": np.float64}


def shard_file(root: str | Path, shard: int) -> Path:
    """Path of the binary file of shard number ``shard``."""
    return Path(root) / SHARD_DIR / f"shard-{shard:05d}.bin"


def sidecar_file(root: str | Path, shard: int) -> Path:
    """Path of the per-shard index written when shard ``shard`` completes."""
    return Path(root) / SHARD_DIR / f"shard-{shard:05d}.npz"


@dataclass
class ShardIndex:
    """The flat index of a shard folder, memory-mapped (opening costs a few small file reads, whatever the size).

    Attributes:
        root: The shard folder.
        meta: Contents of ``index/meta.json``.
        arrays: Name → read-only array (see ``ITEM_ARRAYS`` and ``FRAME_ARRAYS``).
    """

    root: Path
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]

    @classmethod
    def load(cls, root: str | Path, mmap: bool = True) -> ShardIndex:
        """Open the index of the shard folder ``root``.

        Raises:
            FileNotFoundError: ``root`` is not a completed shard folder.
            ValueError: Unknown format version or inconsistent arrays.
        """
        root = Path(root)
        meta_path = root / INDEX_DIR / "meta.json"
        if not meta_path.is_file():
            raise FileNotFoundError(
                f"{root}: not a shard folder (missing {INDEX_DIR}/meta.json); run `sce-shards build`"
            )
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{meta_path}: format_version {meta.get('format_version')}, expected {FORMAT_VERSION}")
        arrays = {}
        for name in (*ITEM_ARRAYS, *FRAME_ARRAYS):
            path = root / INDEX_DIR / f"{name}.npy"
            if not path.is_file():
                raise FileNotFoundError(f"{root}: index array missing: {path}")
            array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
            arrays[name] = array.view(np.ndarray)  # plain ndarray over the map: fast scalar access
        index = cls(root, meta, arrays)
        index._check()
        return index

    def _check(self) -> None:
        n_items, n_frames = self.meta["num_items"], self.meta["num_frames"]
        for name in ITEM_ARRAYS:
            if len(self.arrays[name]) != n_items:
                raise ValueError(
                    f"{self.root}: index array {name} has {len(self.arrays[name])} rows, expected {n_items}"
                )
        for name in FRAME_ARRAYS:
            if len(self.arrays[name]) != n_frames:
                raise ValueError(
                    f"{self.root}: index array {name} has {len(self.arrays[name])} rows, expected {n_frames}"
                )

    def __len__(self) -> int:
        return int(self.meta["num_items"])

    @property
    def class_names(self) -> list[str]:
        """Class names, label ``i`` is ``class_names[i]``."""
        return list(self.meta["class_names"])

    @property
    def num_shards(self) -> int:
        """Number of shard files."""
        return int(self.meta["num_shards"])


def save_index(root: str | Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Write the index arrays and ``index/meta.json`` (each file atomically; meta.json last)."""
    folder = Path(root) / INDEX_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meta.json").unlink(missing_ok=True)  # a half-rewritten index must never look complete
    for name, dtype in {**ITEM_ARRAYS, **FRAME_ARRAYS}.items():
        atomic_write_npy(folder / f"{name}.npy", np.asarray(arrays[name], dtype=dtype))
    atomic_write_json(folder / "meta.json", {"format_version": FORMAT_VERSION, **meta})
