"""On-disk layout of a shard folder and its memory-mapped numpy index.

A shard folder holds::

    manifest.json          format version, build parameters, class names, per-shard sha256, per-item records
    index/meta.json        small: format version, counts, class names (all a reader needs besides the arrays)
    index/<name>.npy       the flat index arrays below, opened with np.load(mmap_mode="r")
    shards/shard-00000.bin concatenated JPEG frames of the items of shard 0 (one file per shard)
    shards/shard-00000.npz per-shard index written when the shard completes (build state, merged into index/)
    plan.json              deterministic assignment of inputs to shards (for resuming)
    failures.jsonl         one JSON line per input that could not be read: {"path", "reason"}

An *item* is a sequence of frames (a video, or a one-frame image). Items are numbered in index order, shard after
shard; their frames are contiguous in the global frame table: item ``i`` owns frames
``item_first_frame[i] + range(item_num_frames[i])``, stored in increasing, non-overlapping byte ranges of their shard.

Integrity (format 2): ``frame_crc32`` holds the CRC-32 (``zlib.crc32``) of every frame's bytes, checked by the
reader before a frame is decoded; the manifest records the size and sha256 of every shard file and of every index
file. Format 1 folders (no ``frame_crc32``, no index checksums) are still read, without those checks.
"""

from __future__ import annotations

import hashlib
import json
import os
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
    "META_FILE",
    "PLAN_FILE",
    "READABLE_VERSIONS",
    "SHARD_DIR",
    "ShardDamageError",
    "ShardIndex",
    "file_digest",
    "index_arrays",
    "save_index",
    "shard_file",
    "sidecar_file",
]

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # format 1: no frame_crc32, no index checksums (read without those checks)
MANIFEST_FILE = "manifest.json"
PLAN_FILE = "plan.json"
FAILURES_FILE = "failures.jsonl"
INDEX_DIR = "index"
META_FILE = "meta.json"
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
FRAME_ARRAYS: dict[str, type] = {
    "frame_offset": np.int64,
    "frame_length": np.int32,
    "frame_time": np.float64,
    "frame_crc32": np.uint32,  # since format 2: zlib.crc32 of the frame's bytes
}
_SINCE = {"frame_crc32": 2}  # arrays added after format 1: the version that added them
_CHUNK = 1 << 22  # frames per step of the consistency check (bounds its temporary memory)
_BLOCK = 1 << 22  # bytes per read when hashing a file


class ShardDamageError(ValueError):
    """A shard folder is damaged: a frame's bytes do not match their CRC-32, or the index is inconsistent.

    The message names the folder or shard file and, for a frame, the item (its number and source path) and the
    frame. ``ShardDamageError(message)`` with the message alone also works (how torch re-raises the error of a
    DataLoader worker in the main process).
    """


def index_arrays(version: int = FORMAT_VERSION) -> list[str]:
    """Names of the index arrays of a folder of format ``version`` (item arrays, then frame arrays)."""
    return [name for name in (*ITEM_ARRAYS, *FRAME_ARRAYS) if _SINCE.get(name, 1) <= version]


def file_digest(path: str | Path) -> dict[str, Any]:
    """``{"bytes": size, "sha256": hex digest}`` of the file ``path`` (read in blocks)."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
            size += len(block)
    return {"bytes": size, "sha256": digest.hexdigest()}


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
        arrays: Name → read-only array (see ``ITEM_ARRAYS`` and ``FRAME_ARRAYS``; no ``frame_crc32`` in format 1).
    """

    root: Path
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]

    @classmethod
    def load(cls, root: str | Path, mmap: bool = True, *, check: bool = True) -> ShardIndex:
        """Open the index of the shard folder ``root``.

        Args:
            root: The shard folder.
            mmap: Memory-map the arrays (else read them into memory).
            check: Check the index for consistency (:meth:`check_consistency`: vectorised over the arrays, about
                10 ms per million frames); without it only the array lengths are checked.

        Raises:
            FileNotFoundError: ``root`` is not a completed shard folder, or a shard file is missing.
            ValueError: Unknown format version; :class:`ShardDamageError` for an inconsistent index.
        """
        root = Path(root)
        meta_path = root / INDEX_DIR / META_FILE
        if not meta_path.is_file():
            raise FileNotFoundError(
                f"{root}: not a shard folder (missing {INDEX_DIR}/{META_FILE}); run `sce-shards build`"
            )
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ShardDamageError(f"{root}: damaged index: {meta_path} is not valid JSON ({err})") from err
        version = meta.get("format_version")
        if version not in READABLE_VERSIONS:
            raise ValueError(
                f"{meta_path}: format_version {version}, expected one of {READABLE_VERSIONS} (this sce-video-data "
                f"writes {FORMAT_VERSION})"
            )
        arrays = {}
        for name in index_arrays(version):
            path = root / INDEX_DIR / f"{name}.npy"
            if not path.is_file():
                raise FileNotFoundError(f"{root}: index array missing: {path}")
            try:
                array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
            except ValueError as err:  # a damaged .npy header
                raise ShardDamageError(f"{root}: damaged index: cannot read {path} ({err})") from err
            arrays[name] = array.view(np.ndarray)  # plain ndarray over the map: fast scalar access
        index = cls(root, meta, arrays)
        index._check()
        if check:
            index.check_consistency()
        return index

    @property
    def version(self) -> int:
        """The folder's format version."""
        return int(self.meta["format_version"])

    @property
    def frame_crc32(self) -> np.ndarray | None:
        """The CRC-32 of every frame's bytes (format 2), or None (format 1: frames cannot be checked)."""
        return self.arrays.get("frame_crc32")

    def _damaged(self, array: str, text: str) -> ShardDamageError:
        return ShardDamageError(
            f"{self.root}: inconsistent index ({INDEX_DIR}/{array}.npy): {text}; the index is damaged: run "
            f"`sce-shards verify {self.root}`, then rebuild the folder"
        )

    def _check(self) -> None:
        n_items, n_frames = self.meta["num_items"], self.meta["num_frames"]
        for name, array in self.arrays.items():
            rows = n_items if name in ITEM_ARRAYS else n_frames
            dtype = np.dtype({**ITEM_ARRAYS, **FRAME_ARRAYS}[name])
            if array.ndim != 1 or len(array) != rows or array.dtype != dtype:
                raise self._damaged(
                    name, f"{array.shape} {array.dtype} array, expected ({rows},) {dtype} (meta.json's counts)"
                )

    def check_consistency(self) -> None:
        """Check that the index describes its shard files consistently; raise on the first inconsistency.

        Items: more than 0 frames each, covering the frame table exactly and in order (``item_first_frame`` is the
        running sum of ``item_num_frames``), shard numbers in range and in order, labels in range, sizes > 0.
        Frames: lengths > 0, byte ranges increasing and not overlapping within each shard, and inside the shard
        file. Vectorised numpy over the arrays (the frame arrays in steps of 4M frames); one ``stat`` per shard.

        Raises:
            ShardDamageError: Naming the folder, the array and the first inconsistency found.
            FileNotFoundError: A shard file that holds frames is missing.
        """
        a, n_frames = self.arrays, int(self.meta["num_frames"])
        counts, first, shard = a["item_num_frames"], a["item_first_frame"], a["item_shard"]
        if not len(counts):
            if n_frames:
                raise self._damaged("item_num_frames", f"no items but {n_frames} frames")
            return
        self._check_items(counts, first, shard, n_frames)
        starts = np.concatenate([[0], np.flatnonzero(np.diff(shard)) + 1])  # first item of each shard with items
        shard_ids, frame_start = shard[starts].astype(np.int64), first[starts].astype(np.int64)
        frame_stop = np.append(frame_start[1:], n_frames)
        offset, length = a["frame_offset"], a["frame_length"]
        if int(length.min()) <= 0:
            j = int(np.argmax(length <= 0))
            raise self._damaged("frame_length", f"frame {j} ({self._owner(j)}) has length {int(length[j])}")
        for lo in range(0, n_frames - 1, _CHUNK):
            hi = min(lo + _CHUNK, n_frames - 1)
            ends = offset[lo:hi] + length[lo:hi]
            bad = np.flatnonzero(offset[lo + 1 : hi + 1] < ends) + lo  # frame bad+1 starts before frame bad ends
            bad = bad[~np.isin(bad + 1, frame_start)]  # the first frame of a shard starts again at its beginning
            if bad.size:
                j = int(bad[0])
                raise self._damaged(
                    "frame_offset",
                    f"frame {j + 1} ({self._owner(j + 1)}) starts at byte {int(offset[j + 1])}, before frame {j} "
                    f"ends (byte {int(offset[j]) + int(length[j])}): offsets must increase within a shard",
                )
        self._check_shard_ends(shard_ids, frame_start, frame_stop)

    def _check_items(self, counts: np.ndarray, first: np.ndarray, shard: np.ndarray, n_frames: int) -> None:
        a = self.arrays
        if int(counts.min()) <= 0:
            i = int(np.argmax(counts <= 0))
            raise self._damaged("item_num_frames", f"item {i} has {int(counts[i])} frames")
        ends = np.cumsum(counts, dtype=np.int64)
        bad = np.flatnonzero(first != ends - counts)
        if bad.size:
            i = int(bad[0])
            raise self._damaged(
                "item_first_frame",
                f"item {i} starts at frame {int(first[i])}, expected {int(ends[i] - counts[i])} (the items' frames "
                "must follow one another in the frame table)",
            )
        if int(ends[-1]) != n_frames:
            raise self._damaged("item_num_frames", f"the items hold {int(ends[-1])} frames, meta.json says {n_frames}")
        bad = np.flatnonzero((shard < 0) | (shard >= self.num_shards))
        if bad.size:
            i = int(bad[0])
            raise self._damaged("item_shard", f"item {i} in shard {int(shard[i])}, outside [0, {self.num_shards})")
        bad = np.flatnonzero(np.diff(shard) < 0)
        if bad.size:
            i = int(bad[0]) + 1
            raise self._damaged("item_shard", f"item {i} in shard {int(shard[i])} after shard {int(shard[i - 1])}")
        labels, classes = a["item_label"], len(self.meta["class_names"])
        bad = np.flatnonzero((labels < 0) | (labels >= classes))
        if bad.size:
            i = int(bad[0])
            raise self._damaged("item_label", f"item {i} has label {int(labels[i])}, outside [0, {classes})")
        for name in ("item_width", "item_height"):
            if int(a[name].min()) <= 0:
                i = int(np.argmax(a[name] <= 0))
                raise self._damaged(name, f"item {i} has {name[5:]} {int(a[name][i])}")

    def _check_shard_ends(self, shard_ids: np.ndarray, frame_start: np.ndarray, frame_stop: np.ndarray) -> None:
        offset, length = self.arrays["frame_offset"], self.arrays["frame_length"]
        if int(offset[frame_start].min()) < 0:
            j = int(frame_start[np.argmax(offset[frame_start] < 0)])
            raise self._damaged("frame_offset", f"frame {j} ({self._owner(j)}) starts at byte {int(offset[j])}")
        last = frame_stop - 1
        ends = offset[last] + length[last]
        for s, j, end in zip(shard_ids.tolist(), last.tolist(), ends.tolist(), strict=True):
            path = shard_file(self.root, s)
            try:
                size = os.stat(path).st_size
            except FileNotFoundError:
                raise FileNotFoundError(f"{self.root}: shard file missing: {path}") from None
            if end > size:
                raise self._damaged(
                    "frame_offset",
                    f"frame {j} ({self._owner(j)}) ends at byte {end}, past the end of {path.name} ({size} bytes)",
                )

    def _owner(self, frame: int) -> str:
        """``item I`` owning global frame ``frame`` (for messages)."""
        item = int(np.searchsorted(self.arrays["item_first_frame"], frame, side="right")) - 1
        return f"item {item}"

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


def save_index(root: str | Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Write the index arrays and ``index/meta.json`` (each file atomically; meta.json last).

    Returns:
        ``{file name: {"bytes", "sha256"}}`` of every file written (what the manifest records, for ``verify``).
    """
    folder = Path(root) / INDEX_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (folder / META_FILE).unlink(missing_ok=True)  # a half-rewritten index must never look complete
    digests = {}
    for name, dtype in {**ITEM_ARRAYS, **FRAME_ARRAYS}.items():
        atomic_write_npy(folder / f"{name}.npy", np.asarray(arrays[name], dtype=dtype))
        digests[f"{name}.npy"] = file_digest(folder / f"{name}.npy")
    atomic_write_json(folder / META_FILE, {"format_version": FORMAT_VERSION, **meta})
    digests[META_FILE] = file_digest(folder / META_FILE)
    return digests
