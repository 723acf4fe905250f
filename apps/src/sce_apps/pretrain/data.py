"""Training data of the pretraining program: datasets (batch-native, sce-video-data) and the device-side views."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from sce_apps.loaders import decode_device
from sce_apps.pretrain.config import DataConfig
from sce_video_data import (
    BatchAugmentation,
    BatchRequest,
    Compose,
    MultiCrop,
    RandomResizedCrop,
    ShardImageDataset,
    ShardVideoDataset,
    VideoFileDataset,
    image_multi_crop,
    image_multicrop_local_view,
    image_sce_views,
    to_float_batch,
    video_pretrain_crop,
    video_sce_views,
)
from sce_video_data.indexes import folders_index, hmdb51_index, kinetics_csv_index, ucf101_index


class SyntheticClips(Dataset[dict[str, Any]]):
    """Deterministic random uint8 clips (a function of the index alone), for tests and compute benchmarks.

    Args:
        size: number of samples.
        num_crops: crops per sample.
        frames: frames per clip (0 gives images).
        resolution: frame side.
    """

    def __init__(self, size: int, num_crops: int, frames: int, resolution: int) -> None:
        self.size, self.num_crops, self.frames, self.resolution = size, num_crops, frames, resolution

    def __len__(self) -> int:
        return self.size

    decode_device = torch.device("cpu")

    def __getitem__(self, key: int | BatchRequest) -> dict[str, Any]:
        if isinstance(key, BatchRequest):
            samples = [self[i] for i in key.indices]
            return {
                "video": torch.stack([s["video"] for s in samples]),
                "label": torch.tensor([s["label"] for s in samples]),
                "index": torch.tensor(key.indices),
            }
        generator = torch.Generator().manual_seed(key)
        time = (self.frames,) if self.frames else ()
        shape = (self.num_crops, *time, self.resolution, self.resolution, 3)
        video = torch.randint(0, 256, shape, generator=generator, dtype=torch.uint8)
        return {"video": video, "label": key % 10, "index": key}


def clip_crop(data: DataConfig) -> Compose:
    """The per-clip loader stage of SPEC 4.2 (the package preset): temporal difference (p), random-resized crop."""
    return video_pretrain_crop(data.crop_size, data.time_difference_prob, data.crop_scale)


def build_dataset(data: DataConfig, *, image: bool, device: torch.device | None = None) -> Dataset[dict[str, Any]]:
    """The training dataset of ``data`` (two random clips per video, SPEC 4.2), decoding on ``data.decode_device``.

    ``device`` is the training device (``data.decode_device=auto`` decodes on it when it is a GPU).
    """
    where = decode_device(data.decode_device, device or torch.device("cpu"))
    if data.format == "synthetic":
        crops = 2 + data.num_local_crops
        return SyntheticClips(data.synthetic_size, crops, 0 if image else data.frames, data.synthetic_resolution)
    if data.format == "image_shards":
        return _image_dataset(data, where)
    if data.format == "video_shards":
        return ShardVideoDataset(
            data.path,
            frames=data.frames,
            clip_duration=data.clip_duration,
            num_clips=2,
            transform=clip_crop(data),
            decode_device=where,
        )
    items, class_names = _video_index(data)
    return VideoFileDataset(
        data.path,
        items,
        class_names=class_names,
        frames=data.frames,
        clip_duration=data.clip_duration,
        num_clips=2,
        transform=clip_crop(data),
    )


def _video_index(data: DataConfig) -> tuple[list[tuple[str, int]], list[str]]:
    """(relative path, label) items and class names of a ``video_files`` dataset (sce_video_data.indexes)."""
    if data.layout == "folders":
        return folders_index(data.path)
    if data.layout == "kinetics":
        if data.splits is None:
            raise ValueError("data.splits must name the Kinetics CSV file (label,youtube_id,time_start,time_end,split)")
        return kinetics_csv_index(data.splits, data.path)
    index = ucf101_index if data.layout == "ucf101" else hmdb51_index
    return index(data.splits or data.path, split=data.split, split_id=data.split_id)


def _image_dataset(data: DataConfig, where: str) -> Dataset[dict[str, Any]]:
    """Images as two global crops (SPEC 3.3: scale 0.2-1, antialiased) and the first ``num_local_crops`` locals."""
    if data.num_local_crops > 4:
        raise ValueError(
            f"data.num_local_crops must be at most 4 (SPEC 3.3: 192, 160, 128, 96), got {data.num_local_crops}"
        )
    crop = RandomResizedCrop(data.crop_size, scale=data.crop_scale, ratio=(3.0 / 4.0, 4.0 / 3.0), antialias=True)
    local = image_multi_crop().crops[2 : 2 + data.num_local_crops]
    return ShardImageDataset(data.path, transform=MultiCrop((crop, crop, *local)), decode_device=where)


@dataclass
class DeviceViews:
    """The device stage: uint8 crops → float views, each crop with its own batched augmentation (SPEC 3.3, 4.3)."""

    augmentations: list[BatchAugmentation | None]

    def __call__(
        self, video: Tensor | list[Tensor], device: torch.device, generator: torch.Generator | None
    ) -> list[Tensor]:
        """Float views of a collated batch: uint8 (B, crops, [T,] H, W, 3), or one (B, ...) tensor per crop.

        Multi-crop batches come as a list (crops of different sizes cannot be stacked).
        """
        crops = list(video.unbind(1)) if isinstance(video, Tensor) else list(video)
        if len(crops) != len(self.augmentations):
            raise ValueError(f"expected {len(self.augmentations)} crops per sample, got {len(crops)}")
        views = []
        for crop, augment in zip(crops, self.augmentations, strict=True):
            crop = crop.to(device, non_blocking=True)
            views.append(to_float_batch(crop) if augment is None else augment(crop, generator))
        return views


def device_views(data: DataConfig) -> DeviceViews:
    """The photometric views of ``data.augment``: SPEC 4.3 (video), SPEC 3.3 (images, with local crops), or none."""
    crops = 2 + data.num_local_crops
    if data.augment == "none":
        return DeviceViews([None] * crops)
    if data.augment == "video_sce":
        return DeviceViews(list(video_sce_views()))
    return DeviceViews([*image_sce_views(), *[image_multicrop_local_view() for _ in range(data.num_local_crops)]])
