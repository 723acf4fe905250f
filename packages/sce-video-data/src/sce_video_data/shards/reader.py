"""Random access to the frames of a shard folder: memory-mapped bytes, batched JPEG decoding of the frames asked for.

A :class:`ShardReader` pickles to its path only: index and shard files are opened lazily in each process that reads
(so DataLoader workers map the files themselves and share the page cache), and per-process memory does not grow with
the number of items.
"""

from __future__ import annotations

import mmap
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sce_video_data.codecs.jpeg import decode_jpegs
from sce_video_data.shards.format import ShardIndex, shard_file

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
    """Read frames of the items of the shard folder ``path``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._index: ShardIndex | None = None
        self._maps: dict[int, np.ndarray] = {}
        self._tensors: dict[int, torch.Tensor] = {}
        len(self)  # fail early on a missing or damaged folder

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path, self._index, self._maps, self._tensors = state["path"], None, {}, {}

    @property
    def index(self) -> ShardIndex:
        """The memory-mapped index (opened on first use in this process)."""
        if self._index is None:
            self._index = ShardIndex.load(self.path)
        return self._index

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
        self, items: Sequence[int], frame_ids: Sequence[Sequence[int]], *, copy: bool = True
    ) -> list[torch.Tensor]:
        """JPEG bytes of frames ``frame_ids[k]`` of item ``items[k]`` for every ``k``, concatenated in that order.

        One vectorised index lookup for all the frames. With ``copy=False`` the tensors are views of the read-only
        memory map (no copy, what the decoder needs; never write into them); by default each is a copy.
        """
        if copy:
            return [torch.from_numpy(array.copy()) for array in self.frame_arrays_many(items, frame_ids)]
        shards, offsets, ends = self._frame_ranges(items, frame_ids)
        views = {shard: self._tensor(shard) for shard in set(shards)}
        return [views[s][o:e] for s, o, e in zip(shards, offsets, ends, strict=True)]

    def frame_arrays_many(self, items: Sequence[int], frame_ids: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """:meth:`frame_bytes_many` with ``copy=False`` as read-only numpy views of the memory map (cheaper to make)."""
        shards, offsets, ends = self._frame_ranges(items, frame_ids)
        maps = {shard: self._map(shard) for shard in set(shards)}
        return [maps[s][o:e] for s, o, e in zip(shards, offsets, ends, strict=True)]

    def _frame_ranges(
        self, items: Sequence[int], frame_ids: Sequence[Sequence[int]]
    ) -> tuple[list[int], list[int], list[int]]:
        """``(shard, start byte, end byte)`` lists of the frames, checked against the items and the shard sizes."""
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
        return shards.tolist(), offsets.tolist(), ends.tolist()

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
