"""Multi-view feature extraction (SPEC 5.4): trunk features averaged over clips × spatial crops of each video."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from sce_retrieval import FeatureBank
from sce_video_data import (
    VIDEO_MEAN,
    VIDEO_STD,
    Normalize,
    ShardImageDataset,
    ShardVideoDataset,
    ShortSideScale,
    load_manifest,
    to_float_batch,
)
from sce_video_data.transforms import uniform_crop


@dataclass(frozen=True)
class SpatialViews:
    """Loader stage of the test views (SPEC 5.2): short side ``size``, then ``crops`` uniform crops.

    One crop is the centre crop; three are left/top, centre, right/bottom along the long side. The crops are
    ``crop_size`` square (``size`` when None, as in SPEC 5.2: 256 crops at short side 256).
    """

    size: int = 256
    crops: int = 3
    crop_size: int | None = None

    def __post_init__(self) -> None:
        if self.crops not in (1, 3):
            raise ValueError(f"crops must be 1 (centre) or 3 (left, centre, right), got {self.crops}")
        if self.crop_size is not None and not 0 < self.crop_size <= self.size:
            raise ValueError(f"crop_size must be in [1, size={self.size}], got {self.crop_size}")

    def __call__(self, clip: Tensor) -> Tensor:
        """uint8 (T, H, W, 3) → (crops, T, crop_size, crop_size, 3)."""
        scaled = ShortSideScale(self.size)(clip)
        indices = (1,) if self.crops == 1 else (0, 1, 2)
        side = self.size if self.crop_size is None else self.crop_size
        return torch.stack([uniform_crop(scaled, side, i) for i in indices])


def multiview_dataset(
    shards: str | Path,
    *,
    frames: int,
    clip_duration: float,
    clips: int,
    size: int,
    crops: int,
    crop_size: int | None = None,
) -> ShardVideoDataset:
    """A shard dataset giving each video's ``clips`` evenly spaced clips × ``crops`` views (SPEC 5.2, 5.4).

    Each item's ``video`` is uint8 ``(clips, crops, T, S, S, 3)`` with ``S = crop_size`` (``size`` when None).
    """
    return ShardVideoDataset(
        shards,
        frames=frames,
        clip_duration=clip_duration,
        sampling="uniform",
        clips_per_video=clips,
        transform=SpatialViews(size, crops, crop_size),
    )


@torch.no_grad()
def video_features(trunk: nn.Module, video: Tensor, normalize: Normalize) -> Tensor:
    """Mean trunk feature over every view of each video: uint8 (B, clips, crops, T, H, W, 3) → (B, D)."""
    batch, views = video.shape[0], video.shape[1] * video.shape[2]
    flat = to_float_batch(video.reshape(batch * views, *video.shape[3:]))
    features = trunk(normalize(flat))
    return features.reshape(batch, views, -1).mean(dim=1)


@torch.no_grad()
def extract_features(
    trunk: nn.Module,
    dataset: ShardVideoDataset,
    *,
    indices: Sequence[int] | None = None,
    batch_size: int = 4,
    num_workers: int = 0,
    device: str | torch.device = "cpu",
    thumbnail_size: int = 48,
    metadata: dict | None = None,
    progress: bool = True,
) -> FeatureBank:
    """Features of every video of ``dataset`` (trunk in eval mode), as a :class:`FeatureBank` with thumbnails.

    Each video's feature is the average of its views' pooled trunk features (SPEC 5.4 "same_avg" on features).
    The thumbnail is the middle frame of the middle clip's centre view. ``indices`` restricts the extraction to
    those videos (in that order), e.g. one process's slice.
    """
    trunk = trunk.to(device).eval()
    normalize = Normalize(VIDEO_MEAN, VIDEO_STD)
    rows = list(range(len(dataset)) if indices is None else indices)
    if not rows:
        raise ValueError("no video to extract (empty dataset or empty indices)")
    subset = torch.utils.data.Subset(dataset, rows)
    loader = torch.utils.data.DataLoader(subset, batch_size=batch_size, num_workers=num_workers, shuffle=False)
    features, labels, thumbs = [], [], []
    for batch in tqdm(loader, desc="features", unit="batch", disable=not progress, dynamic_ncols=True):
        video = batch["video"]
        features.append(video_features(trunk, video.to(device), normalize).float().cpu())
        labels.append(batch["label"])
        thumbs.append(_thumbnails(video, thumbnail_size))
    all_ids = item_ids(dataset)
    ids = [all_ids[i] for i in rows]
    return FeatureBank(
        torch.cat(features).numpy(),
        torch.cat(labels).numpy(),
        ids=ids,
        class_names=list(dataset.class_names),
        metadata=metadata or {},
        thumbnails=np.concatenate(thumbs),
    )


def item_ids(dataset: ShardVideoDataset | ShardImageDataset) -> list[str]:
    """The source path of each item of a shard dataset (from its manifest), or its index when the manifest has none."""
    items = load_manifest(dataset.reader.path).get("items", [])
    if len(items) != len(dataset):
        return [str(i) for i in range(len(dataset))]
    return [str(item.get("path", item.get("source", i))) for i, item in enumerate(items)]


def _thumbnails(video: Tensor, size: int) -> np.ndarray:
    clips, crops, frames = video.shape[1], video.shape[2], video.shape[3]
    middle = video[:, clips // 2, crops // 2, frames // 2]  # (B, H, W, 3)
    small = F.interpolate(middle.permute(0, 3, 1, 2).float(), size=(size, size), mode="bilinear", antialias=True)
    return small.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
