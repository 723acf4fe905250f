"""The one loader every program uses: whole planned batches from a batch-native dataset.

``BatchLoader(dataset, sampler, num_workers=...)`` wraps ``DataLoader(dataset, batch_size=None, sampler=sampler)``:
the sampler (:class:`~sce_video_data.loading.batch_sampler.ResumableBatchSampler`) yields one request per batch, a
worker builds the whole batch (plans drawn, planned frames decoded straight into place), and the batch crosses to the
main process as it is. When the dataset decodes on the GPU, workers send JPEG bytes and plans, and the loader
decodes each batch on the GPU as it arrives (:func:`~sce_video_data.loading.batches.finish_batch`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch.utils.data import DataLoader

from sce_video_data.loading.batch_sampler import ResumableBatchSampler
from sce_video_data.loading.batches import PlannedDataset, finish_batch

__all__ = ["BatchLoader"]


class BatchLoader:
    """Iterate over finished batches of ``dataset`` in the order of ``sampler``.

    Args:
        dataset: A batch-native dataset (:class:`~sce_video_data.ShardVideoDataset`,
            :class:`~sce_video_data.ShardImageDataset`, :class:`~sce_video_data.VideoFileDataset`).
        sampler: The batch sampler (its epoch is set by the caller: ``sampler.set_epoch(e)``).
        num_workers: DataLoader worker processes (0: batches are built in the main process).
        pin_memory: Pin CPU batches (for asynchronous copies to a GPU).
        prefetch_factor: Batches prefetched per worker.
    """

    def __init__(
        self,
        dataset: PlannedDataset,
        sampler: ResumableBatchSampler,
        *,
        num_workers: int = 0,
        pin_memory: bool = False,
        prefetch_factor: int | None = None,
    ) -> None:
        if num_workers < 0:
            raise ValueError(f"num_workers: expected >= 0, got {num_workers}")
        self.dataset, self.sampler = dataset, sampler
        self.decode_device = dataset.decode_device
        self.loader = DataLoader(
            dataset,
            batch_size=None,
            sampler=sampler,
            num_workers=num_workers,
            pin_memory=pin_memory and self.decode_device.type == "cpu",
            prefetch_factor=prefetch_factor if num_workers else None,
        )

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for batch in self.loader:
            yield finish_batch(batch, self.decode_device)

    @property
    def num_workers(self) -> int:
        """Worker processes."""
        return self.loader.num_workers
