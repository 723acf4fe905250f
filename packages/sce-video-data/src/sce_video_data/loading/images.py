"""``ShardImageDataset``: images stored as one-frame items by ``sce-shards build --layout imagefolder``.

The same batch-native path as the videos (:mod:`sce_video_data.loading.batches`): an image is a clip of one frame,
its crops are planned before it is decoded and written straight into the batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from sce_video_data.codecs.jpeg import resolve_jpeg_decoder
from sce_video_data.loading.batches import BatchLayout, PlannedDataset
from sce_video_data.loading.datasets import check_loader_transform, resolve_decode_device
from sce_video_data.loading.frames import FrameBuffer, decode_shard_frames
from sce_video_data.loading.plans import ClipPlan, SamplePlan
from sce_video_data.shards.reader import ShardReader
from sce_video_data.transforms.multiview import MultiCrop
from sce_video_data.transforms.plans import plan_clip

__all__ = ["ShardImageDataset"]


class ShardImageDataset(PlannedDataset):
    """Images read from a shard folder (memory-mapped, one JPEG decoded per sample).

    A batch is ``{"image": uint8 (B, H, W, 3), "label", "index"}``; with a
    :class:`~sce_video_data.transforms.MultiCrop` transform (e.g.
    :func:`~sce_video_data.transforms.image_two_crops`, :func:`~sce_video_data.transforms.image_multi_crop`,
    SPEC 3.3) ``"image"`` is a list with one ``(B, h, w, 3)`` batch per crop. ``dataset[i]`` gives one sample.

    Args:
        path: Shard folder built with ``--layout imagefolder``.
        transform: Loader transform of each image (crops, scales, ``MultiCrop``).
        decode_device: ``"cpu"``, ``"cuda"`` (decoded in the main process by ``finish_batch``) or ``"auto"``.
        jpeg_decoder: CPU decoder (see :class:`~sce_video_data.loading.datasets.ShardVideoDataset`).
        verify_frames: Check each image's CRC-32 before decoding it (the default; see ``ShardVideoDataset``).

    Raises:
        ValueError: The folder holds items of more than one frame (videos).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        transform: Any = None,
        decode_device: str | torch.device = "cpu",
        jpeg_decoder: str = "auto",
        verify_frames: bool = True,
    ) -> None:
        check_loader_transform(transform)
        self.reader = ShardReader(path, verify_frames=verify_frames)
        frames = self.reader.index.arrays["item_num_frames"]
        if len(frames) and int(frames.max()) != 1:
            raise ValueError(f"{path}: items have up to {int(frames.max())} frames; expected images (1 frame each)")
        self.transform = transform
        self.decode_device = resolve_decode_device(decode_device)
        self.jpeg_decoder = resolve_jpeg_decoder(jpeg_decoder)
        self.layout = BatchLayout("image", 1, isinstance(transform, MultiCrop))
        self._buffer = FrameBuffer()

    def __len__(self) -> int:
        return len(self.reader)

    @property
    def class_names(self) -> list[str]:
        """Class names (label ``i`` is ``class_names[i]``)."""
        return self.reader.class_names

    def plan(self, index: int, generator: torch.Generator | None) -> SamplePlan:
        """The crops of image ``index``, drawn from ``generator``."""
        info = self.reader.item(index)
        _, views = plan_clip(self.transform, info.height, info.width, generator)
        return SamplePlan(index, info.label, info.height, info.width, (ClipPlan((0,), None, views),))

    def decode(self, plans: Sequence[SamplePlan]) -> Iterator[torch.Tensor]:
        """Each image decoded on the CPU into a reused buffer."""
        sizes = [(p.height, p.width) for p in plans]
        ones = [[0] for _ in plans]
        turbo = self.jpeg_decoder == "simplejpeg"
        return decode_shard_frames(self.reader, [p.index for p in plans], ones, sizes, self._buffer, turbo)

    def jpeg_bytes(self, plans: Sequence[SamplePlan]) -> list[torch.Tensor]:
        """Copies of each image's JPEG bytes."""
        return self.reader.frame_bytes_many([p.index for p in plans], [[0] for _ in plans])
