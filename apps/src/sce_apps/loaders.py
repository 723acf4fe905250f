"""The loaders of every program: sce-video-data's batch-native path (plans drawn first, frames decoded into place).

Training loaders shuffle with the run's seed and cut each epoch into global batches (one slice per process); a
sample's clips, temporal difference and crops depend only on the seed, the epoch and its position, never on the
number of workers or processes. Evaluation loaders read given rows in order. A dataset restricted to some rows is a
``torch.utils.data.Subset`` of a batch-native dataset: the loader reads the rows from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import Dataset, Subset

from sce_video_data import BatchLoader, ResumableBatchSampler

__all__ = ["decode_device", "decoder_name", "eval_loader", "is_image_data", "rows_of", "train_loader"]

IMAGE_TRUNK_PREFIX = "resnet"


def is_image_data(data_format: str, trunk: str = "") -> bool:
    """Whether a program works on images (else videos): image shards, or synthetic data for an image trunk.

    The one place every program decides it.
    """
    if data_format == "synthetic":
        return trunk.startswith(IMAGE_TRUNK_PREFIX)
    return data_format == "image_shards"


def decode_device(setting: str, device: torch.device) -> str:
    """Where JPEG frames are decoded: ``auto`` is ``cuda`` when the run trains on CUDA, else ``cpu``."""
    if setting not in ("auto", "cpu", "cuda"):
        raise ValueError(f"data.decode_device: expected 'auto', 'cpu' or 'cuda', got {setting!r}")
    if setting == "auto":
        return "cuda" if device.type == "cuda" else "cpu"
    if setting == "cuda" and not torch.cuda.is_available():
        raise ValueError("data.decode_device=cuda: no CUDA device is available (use cpu or auto)")
    return setting


def decoder_name(data_format: str, device: str) -> str:
    """The decoder that reads data of ``data_format`` on ``device`` (``cpu``/``cuda``), as provenance records it."""
    if data_format == "synthetic":
        return "synthetic (nothing decoded)"
    if data_format == "video_files":
        import av

        return f"pyav {av.__version__} (FFmpeg), cpu"
    if device == "cuda":
        return "jpeg: torchvision nvjpeg, cuda"
    from sce_video_data.codecs.jpeg import resolve_jpeg_decoder

    return f"jpeg: {resolve_jpeg_decoder('auto')} (libjpeg-turbo), cpu"


def rows_of(dataset: Dataset[Any]) -> tuple[Any, list[int]]:
    """``(batch-native dataset, its rows)``: a ``Subset``'s dataset and indices, or every row of ``dataset``."""
    if isinstance(dataset, Subset):
        inner, rows = rows_of(dataset.dataset)
        return inner, [rows[i] for i in dataset.indices]
    return dataset, list(range(len(dataset)))  # type: ignore[arg-type]


def train_loader(
    dataset: Dataset[Any], local_batch: int, *, world: int, rank: int, seed: int, num_workers: int
) -> tuple[BatchLoader, ResumableBatchSampler]:
    """A shuffled loader of full global batches (``drop_last``: every step has exactly ``local_batch`` rows)."""
    inner, rows = rows_of(dataset)
    sampler = ResumableBatchSampler(rows, local_batch, num_replicas=world, rank=rank, seed=seed)
    loader = BatchLoader(inner, sampler, num_workers=num_workers, pin_memory=torch.cuda.is_available())
    return loader, sampler


def eval_loader(dataset: Dataset[Any], positions: Sequence[int], batch_size: int, num_workers: int) -> BatchLoader:
    """Batches of ``dataset``'s rows at ``positions`` (e.g. this process's slice), in order, the last one shorter."""
    inner, rows = rows_of(dataset)
    chosen = [rows[p] for p in positions]
    sampler = ResumableBatchSampler(chosen, batch_size, num_replicas=1, rank=0, shuffle=False, drop_last=False)
    return BatchLoader(inner, sampler, num_workers=num_workers, pin_memory=torch.cuda.is_available())
