"""Whole batches for batch-native datasets: a distributed, deterministic, resumable batch sampler.

Each epoch orders the rows with :func:`~sce_video_data.loading.sampler.epoch_order` (``randperm`` seeded with
``seed + epoch``, the same on every process) and cuts the order into **global batches** of
``batch_size × num_replicas`` rows; process ``r`` takes the ``r``-th contiguous slice of ``batch_size`` rows of each.
Every row comes with its position in the epoch's order, and the dataset seeds the random choices of a sample (clip
starts, temporal difference, crop boxes) from ``(seed, epoch, position)`` (:meth:`BatchRequest.generators`). So a
sample is the same whatever the number of loader workers or processes: the rows of one global batch, concatenated
over the processes in rank order, are exactly the batch a single process with ``batch_size × num_replicas`` gets.

The position saved with a checkpoint is the number of global batches done in the epoch, so a run resumes mid-epoch
on any number of processes with the same global batch, neither repeating nor skipping a row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

from sce_video_data.loading.sampler import epoch_order, resolve_world

__all__ = ["BatchRequest", "ResumableBatchSampler", "sample_seed"]


def sample_seed(seed: int, epoch: int, position: int) -> int:
    """A 63-bit seed mixing ``(seed, epoch, position)`` (numpy's ``SeedSequence``: nearby inputs, unrelated seeds)."""
    low, high = np.random.SeedSequence([seed, epoch, position]).generate_state(2, np.uint32).tolist()
    return ((high << 32) | low) & ((1 << 63) - 1)


@dataclass(frozen=True)
class BatchRequest:
    """One process's share of a global batch: what a batch-native dataset's ``__getitem__`` receives.

    Attributes:
        indices: Dataset rows, in order.
        positions: Position of each row in the epoch's order (the per-sample random seed, with ``seed``, ``epoch``).
        seed: The sampler's seed.
        epoch: The epoch.
    """

    indices: tuple[int, ...]
    positions: tuple[int, ...]
    seed: int = 0
    epoch: int = 0

    def __len__(self) -> int:
        return len(self.indices)

    def generators(self) -> list[torch.Generator]:
        """One CPU generator per row, seeded with :func:`sample_seed` of its position."""
        return [torch.Generator().manual_seed(sample_seed(self.seed, self.epoch, p)) for p in self.positions]


class ResumableBatchSampler(Sampler[BatchRequest]):
    """Yields this process's :class:`BatchRequest` of every global batch of the epoch.

    Use it as the ``sampler`` of ``DataLoader(dataset, batch_size=None, ...)`` over a batch-native dataset (or
    through :class:`~sce_video_data.loading.loader.BatchLoader`).

    Args:
        rows: The number of dataset rows (all of them), or the rows themselves (e.g. a training subset, a slice).
        batch_size: Rows per process and batch.
        num_replicas: Number of processes (default: from ``torch.distributed`` when initialised, else 1).
        rank: This process (default: from ``torch.distributed`` when initialised, else 0).
        shuffle: Shuffle each epoch (otherwise the order of ``rows``).
        seed: Seed of the order and of every sample's random choices.
        drop_last: Drop the last incomplete global batch (training: every step has exactly ``batch_size`` rows per
            process). Otherwise the last global batch is cut short, and a process whose slice is empty gets none.

    Examples:
        >>> sampler = ResumableBatchSampler(10, batch_size=2, num_replicas=2, rank=1, seed=0)
        >>> len(sampler), [len(request) for request in sampler]
        (2, [2, 2])
    """

    def __init__(
        self,
        rows: int | Sequence[int],
        batch_size: int,
        *,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = True,
    ) -> None:
        self.rows = list(range(rows)) if isinstance(rows, int) else [int(r) for r in rows]
        if batch_size < 1:
            raise ValueError(f"batch_size: expected >= 1, got {batch_size}")
        self.num_replicas, self.rank = resolve_world(num_replicas, rank)
        self.batch_size, self.shuffle, self.seed, self.drop_last = batch_size, shuffle, seed, drop_last
        if drop_last and len(self.rows) < self.global_batch:
            raise ValueError(
                f"{len(self.rows)} rows cannot fill one global batch of {self.global_batch} "
                f"({batch_size} per process x {self.num_replicas} processes)"
            )
        self.epoch = 0
        self._start = 0  # global batches of this epoch already done (set by load_state_dict)
        self._yielded = 0

    @property
    def global_batch(self) -> int:
        """Rows per global batch (all processes)."""
        return self.batch_size * self.num_replicas

    @property
    def batches_per_epoch(self) -> int:
        """Global batches per epoch."""
        full, rest = divmod(len(self.rows), self.global_batch)
        return full + (1 if rest and not self.drop_last else 0)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (its order); a resumed position is kept only for the epoch it was saved in."""
        if epoch != self.epoch:
            self._start = 0
        self.epoch = epoch

    def order(self, epoch: int) -> list[int]:
        """The rows in the order of ``epoch`` (all processes)."""
        if not self.shuffle:
            return list(self.rows)
        return [self.rows[k] for k in epoch_order(len(self.rows), self.seed, epoch)]

    def request(self, order: Sequence[int], batch: int) -> BatchRequest:
        """This process's rows of global batch ``batch`` of an epoch ``order``."""
        first = batch * self.global_batch + self.rank * self.batch_size
        positions = range(first, min(first + self.batch_size, len(order), (batch + 1) * self.global_batch))
        return BatchRequest(tuple(order[p] for p in positions), tuple(positions), self.seed, self.epoch)

    def __iter__(self) -> Iterator[BatchRequest]:
        order = self.order(self.epoch)
        start, self._yielded = self._start, self._start
        for batch in range(start, self.batches_per_epoch):
            self._yielded = batch + 1
            request = self.request(order, batch)
            if len(request):
                yield request
        self._start = 0

    def __len__(self) -> int:
        """Requests this process still gets in the epoch (none where its slice of the last batch is empty)."""
        first_rows = (
            b * self.global_batch + self.rank * self.batch_size for b in range(self._start, self.batches_per_epoch)
        )
        return sum(1 for first in first_rows if first < len(self.rows))

    def state_dict(self, batches_done: int | None = None) -> dict[str, Any]:
        """Position to resume from: the epoch and the global batches of it already done.

        Args:
            batches_done: Global batches of the current epoch actually used (e.g. optimizer steps in the epoch).
                Default: the count yielded by the running iterator, exact only without DataLoader prefetching.
        """
        done = self._yielded if batches_done is None else batches_done
        return {
            "epoch": self.epoch,
            "batches_done": int(done),
            "seed": self.seed,
            "rows": len(self.rows),
            "global_batch": self.global_batch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state`` (saved with any number of processes with the same global batch).

        Raises:
            ValueError: ``state`` belongs to another seed, row count or global batch size, or is out of range.
        """
        for key, mine in (("seed", self.seed), ("rows", len(self.rows)), ("global_batch", self.global_batch)):
            if state.get(key) != mine:
                raise ValueError(f"batch sampler state: {key}={state.get(key)} does not match this sampler's {mine}")
        if not 0 <= state["batches_done"] <= self.batches_per_epoch:
            raise ValueError(
                f"batch sampler state: batches_done={state['batches_done']} outside [0, {self.batches_per_epoch}]"
            )
        self.epoch, self._start = int(state["epoch"]), int(state["batches_done"])
        self._yielded = self._start
