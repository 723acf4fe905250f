"""Multi-view feature extraction (SPEC 5.4): trunk features averaged over clips × spatial crops of each video."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from sce_apps.loaders import eval_loader
from sce_retrieval import FeatureBank
from sce_video_data import (
    VIDEO_MEAN,
    VIDEO_STD,
    Normalize,
    ShardImageDataset,
    ShardVideoDataset,
    load_manifest,
    to_float_batch,
    video_eval_views,
)


def multiview_dataset(
    shards: str | Path,
    *,
    frames: int,
    clip_duration: float,
    clips: int,
    size: int,
    crops: int,
    crop_size: int | None = None,
    decode_device: str = "cpu",
) -> ShardVideoDataset:
    """A shard dataset giving each video's ``clips`` evenly spaced clips × ``crops`` views (SPEC 5.2, 5.4).

    A batch's ``video`` is uint8 ``(B, clips, crops, T, S, S, 3)`` with ``S = crop_size`` (``size`` when None): the
    package's test views (``video_eval_views``: short side ``size``, then the left, centre and right crops).
    """
    return ShardVideoDataset(
        shards,
        frames=frames,
        clip_duration=clip_duration,
        sampling="uniform",
        clips_per_video=clips,
        transform=video_eval_views(size, crops, crop_size),
        decode_device=decode_device,
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
    loader = eval_loader(dataset, rows, batch_size, num_workers)
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
