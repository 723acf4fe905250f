"""``ShardImageDataset``: images stored as one-frame items by ``sce-shards build --layout imagefolder``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from sce_video_data.shard_reader import ShardReader

__all__ = ["ShardImageDataset"]

ImageTransform = Callable[[torch.Tensor], torch.Tensor | list[torch.Tensor]]


class ShardImageDataset(Dataset[dict[str, Any]]):
    """Images read from a shard folder (memory-mapped, one JPEG decoded per sample).

    Returns ``{"image": ..., "label": int, "index": int}`` where ``image`` is the uint8 ``(H, W, 3)`` image, or what
    ``transform`` makes of it: e.g. :func:`~sce_video_data.transforms.image_two_crops` gives a list of two
    ``(224, 224, 3)`` crops and :func:`~sce_video_data.transforms.image_multi_crop` a list of six (SPEC 3.3); the
    default collate then yields one batch per crop.

    Args:
        path: Shard folder built with ``--layout imagefolder``.
        transform: Applied to each uint8 ``(H, W, 3)`` image inside the loader workers.
        decode_device: Where JPEGs are decoded (``"cuda"``: the GPU decoder; use it in the main process).

    Raises:
        ValueError: The folder holds items of more than one frame (videos).
    """

    def __init__(
        self, path: str | Path, *, transform: ImageTransform | None = None, decode_device: str | torch.device = "cpu"
    ) -> None:
        self.reader = ShardReader(path)
        frames = self.reader.index.arrays["item_num_frames"]
        if len(frames) and int(frames.max()) != 1:
            raise ValueError(f"{path}: items have up to {int(frames.max())} frames; expected images (1 frame each)")
        self.transform = transform
        self.decode_device = decode_device

    def __len__(self) -> int:
        return len(self.reader)

    @property
    def class_names(self) -> list[str]:
        """Class names (label ``i`` is ``class_names[i]``)."""
        return self.reader.class_names

    def __getitem__(self, index: int) -> dict[str, Any]:
        image = self.reader.read_frames(index, [0], self.decode_device)[0]
        out = image if self.transform is None else self.transform(image)
        return {"image": out, "label": self.reader.item(index).label, "index": index}
