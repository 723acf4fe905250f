"""Random access to the frames of a shard folder: memory-mapped bytes, batched JPEG decoding of the frames asked for.

A :class:`ShardReader` pickles to its path only: index and shard files are opened lazily in each process that reads
(so DataLoader workers map the files themselves and share the page cache), and per-process memory does not grow with
the number of items.
"""

from __future__ import annotations

import mmap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.io import ImageReadMode, decode_jpeg

from sce_video_data.shard_format import ShardIndex, shard_file

__all__ = ["ItemInfo", "ShardReader", "decode_jpegs"]


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
    """

    num_frames: int
    fps: float
    duration: float
    cfr: bool
    label: int
    times: np.ndarray


def decode_jpegs(data: list[torch.Tensor], device: str | torch.device = "cpu") -> list[torch.Tensor]:
    """Decode JPEG byte tensors to RGB ``(3, H, W)`` uint8 with torchvision's batched decoder (GPU when asked)."""
    if not data:
        return []
    return list(decode_jpeg(data, mode=ImageReadMode.RGB, device=device))


class ShardReader:
    """Read frames of the items of the shard folder ``path``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._index: ShardIndex | None = None
        self._maps: dict[int, np.ndarray] = {}
        len(self)  # fail early on a missing or damaged folder

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path, self._index, self._maps = state["path"], None, {}

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
        a = self.index.arrays
        if not 0 <= i < len(self):
            raise IndexError(f"item {i} out of range for {len(self)} items in {self.path}")
        first, n = int(a["item_first_frame"][i]), int(a["item_num_frames"][i])
        return ItemInfo(
            n,
            float(a["item_fps"][i]),
            float(a["item_duration"][i]),
            bool(a["item_cfr"][i]),
            int(a["item_label"][i]),
            a["frame_time"][first : first + n],
        )

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
        a = self.index.arrays
        first, n = int(a["item_first_frame"][i]), int(a["item_num_frames"][i])
        ids = np.asarray(frame_ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= n):
            raise IndexError(f"frames {list(frame_ids)} out of range for item {i} with {n} frames")
        data = self._map(int(a["item_shard"][i]))
        offsets, lengths = a["frame_offset"][first + ids].tolist(), a["frame_length"][first + ids].tolist()
        if offsets and max(o + length for o, length in zip(offsets, lengths, strict=True)) > len(data):
            raise ValueError(f"{self.path}: shard {int(a['item_shard'][i])} is truncated (frame past its end)")
        return [torch.from_numpy(data[o : o + length].copy()) for o, length in zip(offsets, lengths, strict=True)]

    def read_frames(self, i: int, frame_ids: Sequence[int], device: str | torch.device = "cpu") -> torch.Tensor:
        """Decode frames ``frame_ids`` of item ``i`` (each distinct frame once) to contiguous uint8 ``(T, H, W, 3)``."""
        frame_ids = [int(f) for f in frame_ids]
        unique = sorted(set(frame_ids))
        # the decoder returns (3, H, W) views of (H, W, 3) memory: permuting back makes the copies contiguous
        images = [image.permute(1, 2, 0) for image in decode_jpegs(self.frame_bytes(i, unique), device)]
        position = {f: k for k, f in enumerate(unique)}
        return torch.stack([images[position[f]] for f in frame_ids])
