"""Random access to the frames of a shard folder: memory-mapped bytes, batched JPEG decoding of the frames asked for.

A :class:`ShardReader` pickles to its path only: index and shard files are opened lazily in each process that reads
(so DataLoader workers map the files themselves and share the page cache), and per-process memory does not grow with
the number of items.

Integrity: constructing a reader checks the index for consistency (:meth:`ShardIndex.check_consistency`, vectorised;
a copy unpickled in a worker trusts the check made where the reader was constructed), and by default every frame's
bytes are checked against their CRC-32 (``frame_crc32``) before they are returned or decoded: a damaged frame raises
:class:`~sce_video_data.shards.format.ShardDamageError` naming the shard file, the item and the frame, instead of
decoding into wrong pixels. Format 1 folders have no CRCs and are read unchecked.
"""

from __future__ import annotations

import json
import mmap
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sce_video_data.codecs.jpeg import decode_jpegs
from sce_video_data.shards.format import MANIFEST_FILE, ShardDamageError, ShardIndex, shard_file

__all__ = ["ItemInfo", "ShardReader"]

_INFO_FIELDS = (
    "item_first_frame",
    "item_num_frames",
    "item_fps",
    "item_duration",
    "item_cfr",
    "item_label",
    "item_height",
    "item_width",
)


@dataclass(frozen=True)
class ItemInfo:
    """Metadata of one stored item.

    Attributes:
        num_frames: Number of stored frames.
        fps: Frame rate used for clip index math.
        duration: Duration in seconds.
        cfr: True when frame ``i`` is at ``i / fps``; otherwise use ``times``.
        label: Class label.
        times: Frame timestamps in seconds (read-only view).
        height: Height of the stored frames.
        width: Width of the stored frames.
    """

    num_frames: int
    fps: float
    duration: float
    cfr: bool
    label: int
    times: np.ndarray
    height: int = 0
    width: int = 0


class ShardReader:
    """Read frames of the items of the shard folder ``path``.

    Args:
        path: The shard folder.
        verify_frames: Check the CRC-32 of every frame's bytes before returning or decoding them (the default; about
            1% of the JPEG decoding time, see the README's "Integrity"). False reads without the check.

    Raises:
        FileNotFoundError: Not a complete shard folder, or a shard file is missing.
        ShardDamageError: The index is inconsistent (checked once, here).
    """

    def __init__(self, path: str | Path, *, verify_frames: bool = True) -> None:
        self.path = Path(path)
        self.verify_frames = bool(verify_frames)
        self._index: ShardIndex | None = ShardIndex.load(self.path, check=True)  # fail early: missing or damaged
        self._maps: dict[int, np.ndarray] = {}
        self._tensors: dict[int, torch.Tensor] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "verify_frames": self.verify_frames}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path, self._index, self._maps, self._tensors = state["path"], None, {}, {}
        self.verify_frames = state.get("verify_frames", True)

    @property
    def index(self) -> ShardIndex:
        """The memory-mapped index (opened on first use in this process; checked where the reader was made)."""
        if self._index is None:
            self._index = ShardIndex.load(self.path, check=False)
        return self._index

    @property
    def checks_frames(self) -> bool:
        """Whether reads check each frame's CRC-32 (``verify_frames`` and a format-2 folder)."""
        return self.verify_frames and self.index.frame_crc32 is not None

    def __len__(self) -> int:
        return len(self.index)

    @property
    def class_names(self) -> list[str]:
        """Class names of the folder."""
        return self.index.class_names

    def item(self, i: int) -> ItemInfo:
        """Metadata of item ``i``."""
        return self.items([i])[0]

    def items(self, indices: Sequence[int]) -> list[ItemInfo]:
        """Metadata of the items ``indices`` (one vectorised read of the index per field)."""
        a = self.index.arrays
        rows = self._rows(indices)
        fields = [a[name][rows].tolist() for name in _INFO_FIELDS]
        times = a["frame_time"]
        return [
            ItemInfo(n, fps, duration, cfr, label, times[first : first + n], height, width)
            for first, n, fps, duration, cfr, label, height, width in zip(*fields, strict=True)
        ]

    def _rows(self, indices: Sequence[int]) -> np.ndarray:
        """``indices`` as an int64 array, checked to be item numbers of this folder."""
        rows = np.asarray(indices, dtype=np.int64).reshape(-1)
        bad = rows[(rows < 0) | (rows >= len(self))]
        if bad.size:
            raise IndexError(f"item {int(bad[0])} out of range for {len(self)} items in {self.path}")
        return rows

    def _map(self, shard: int) -> np.ndarray:
        if shard not in self._maps:
            path = shard_file(self.path, shard)
            if not path.is_file():
                raise FileNotFoundError(f"{self.path}: shard file missing: {path}")
            if path.stat().st_size == 0:
                self._maps[shard] = np.empty(0, dtype=np.uint8)
            else:
                with open(path, "rb") as handle:  # the map stays valid after the file is closed
                    self._maps[shard] = np.frombuffer(mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ), np.uint8)
        return self._maps[shard]

    def frame_bytes(self, i: int, frame_ids: Sequence[int]) -> list[torch.Tensor]:
        """JPEG bytes (uint8 1-D tensors) of frames ``frame_ids`` of item ``i``."""
        return self.frame_bytes_many([i], [frame_ids])

    def frame_bytes_many(
        self,
        items: Sequence[int],
        frame_ids: Sequence[Sequence[int]],
        *,
        copy: bool = True,
        verify: bool | None = None,
    ) -> list[torch.Tensor]:
        """JPEG bytes of frames ``frame_ids[k]`` of item ``items[k]`` for every ``k``, concatenated in that order.

        One vectorised index lookup for all the frames. With ``copy=False`` the tensors are views of the read-only
        memory map (no copy, what the decoder needs; never write into them); by default each is a copy. ``verify``
        (default: the reader's ``verify_frames``) checks each frame's CRC-32 first.

        Raises:
            ShardDamageError: A frame's bytes do not match their CRC-32.
        """
        if copy:
            return [torch.from_numpy(array.copy()) for array in self._arrays(items, frame_ids, verify)]
        shards, offsets, ends, frames = self._frame_ranges(items, frame_ids)
        if self.verify_frames if verify is None else verify:
            maps = {shard: self._map(shard) for shard in set(shards)}
            arrays = [maps[s][o:e] for s, o, e in zip(shards, offsets, ends, strict=True)]
            self._check_crc(arrays, frames, items, frame_ids)
        views = {shard: self._tensor(shard) for shard in set(shards)}
        return [views[s][o:e] for s, o, e in zip(shards, offsets, ends, strict=True)]

    def frame_arrays_many(
        self, items: Sequence[int], frame_ids: Sequence[Sequence[int]], *, verify: bool | None = None
    ) -> list[np.ndarray]:
        """:meth:`frame_bytes_many` with ``copy=False`` as read-only numpy views of the memory map (cheaper to make)."""
        return self._arrays(items, frame_ids, verify)

    def _arrays(
        self, items: Sequence[int], frame_ids: Sequence[Sequence[int]], verify: bool | None
    ) -> list[np.ndarray]:
        shards, offsets, ends, frames = self._frame_ranges(items, frame_ids)
        maps = {shard: self._map(shard) for shard in set(shards)}
        arrays = [maps[s][o:e] for s, o, e in zip(shards, offsets, ends, strict=True)]
        if self.verify_frames if verify is None else verify:
            self._check_crc(arrays, frames, items, frame_ids)
        return arrays

    def _check_crc(
        self, arrays: Sequence[np.ndarray], frames: np.ndarray, items: Sequence[int], frame_ids: Sequence[Sequence[int]]
    ) -> None:
        """Raise :class:`ShardDamageError` for the first of ``arrays`` (global frames ``frames``) whose CRC differs."""
        table = self.index.frame_crc32
        if table is None:  # format 1: nothing to check against
            return
        expected = table[frames].tolist()
        actual = [zlib.crc32(array.data) for array in arrays]
        if actual == expected:
            return
        k = next(k for k, (a, e) in enumerate(zip(actual, expected, strict=True)) if a != e)
        group = int(np.searchsorted(np.cumsum([len(ids) for ids in frame_ids]), k, side="right"))
        raise self.damage_error(int(items[group]), int(frames[k]), actual[k])

    def damage_error(self, item: int, frame: int, crc: int, *, advice: bool = True) -> ShardDamageError:
        """The error for global frame ``frame`` (of item ``item``) whose bytes have the CRC-32 ``crc``.

        One line naming the shard file, the item (its number and, from the manifest, its source path), the frame
        within the item, the byte range and both CRCs; with ``advice``, what to run next.
        """
        a = self.index.arrays
        shard = int(a["item_shard"][item])
        offset, length = int(a["frame_offset"][frame]), int(a["frame_length"][frame])
        expected = self.index.frame_crc32
        stored = "?" if expected is None else f"{int(expected[frame]):08x}"
        source = self._source_path(item)
        return ShardDamageError(
            f"{shard_file(self.path, shard)}: damaged frame {frame - int(a['item_first_frame'][item])} of item {item}"
            f"{f' ({source})' if source else ''}: bytes {offset}..{offset + length} have CRC-32 {crc:08x}, the index "
            f"says {stored}{self._advice() if advice else ''}"
        )

    def _advice(self) -> str:
        return f"; run `sce-shards verify --full {self.path}` to list the damage, then rebuild the folder"

    def _source_path(self, item: int) -> str | None:
        """The source path of item ``item`` from the manifest (read on the error path only), or None."""
        try:
            with open(self.path / MANIFEST_FILE, encoding="utf-8") as handle:
                record = json.load(handle)["items"][item]
            return str(record["path"])
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            return None

    def _frame_ranges(
        self, items: Sequence[int], frame_ids: Sequence[Sequence[int]]
    ) -> tuple[list[int], list[int], list[int], np.ndarray]:
        """``(shard, start byte, end byte)`` lists of the frames and their rows in the frame table.

        The frames are checked against the items and the shard sizes.
        """
        a = self.index.arrays
        rows = self._rows(items)
        counts = [len(ids) for ids in frame_ids]
        ids = np.fromiter((f for group in frame_ids for f in group), dtype=np.int64, count=sum(counts))
        owner = np.repeat(rows, counts)
        first, n = a["item_first_frame"][owner], a["item_num_frames"][owner]
        bad = np.flatnonzero((ids < 0) | (ids >= n))
        if bad.size:
            k = int(np.searchsorted(np.cumsum(counts), bad[0], side="right"))
            raise IndexError(f"frames {list(frame_ids[k])} out of range for item {items[k]} with {n[bad[0]]} frames")
        frames = first + ids
        offsets = a["frame_offset"][frames]
        ends = offsets + a["frame_length"][frames]
        shards = a["item_shard"][owner]
        for shard in np.unique(shards).tolist():
            if int(ends[shards == shard].max()) > len(self._map(shard)):
                raise ValueError(f"{self.path}: shard {shard} is truncated (frame past its end)")
        return shards.tolist(), offsets.tolist(), ends.tolist(), frames

    def _tensor(self, shard: int) -> torch.Tensor:
        """The whole memory map of ``shard`` as a read-only uint8 tensor (made once per process)."""
        if shard not in self._tensors:
            with warnings.catch_warnings():  # torch warns that it cannot mark the tensor read-only
                warnings.simplefilter("ignore", UserWarning)
                self._tensors[shard] = torch.from_numpy(self._map(shard))
        return self._tensors[shard]

    def read_frames(self, i: int, frame_ids: Sequence[int], device: str | torch.device = "cpu") -> torch.Tensor:
        """Decode frames ``frame_ids`` of item ``i`` (each distinct frame once) to contiguous uint8 ``(T, H, W, 3)``."""
        frame_ids = [int(f) for f in frame_ids]
        unique = sorted(set(frame_ids))
        # the decoder returns (3, H, W) views of (H, W, 3) memory: permuting back makes the copies contiguous
        images = [image.permute(1, 2, 0) for image in decode_jpegs(self.frame_bytes(i, unique), device)]
        position = {f: k for k, f in enumerate(unique)}
        return torch.stack([images[position[f]] for f in frame_ids])
