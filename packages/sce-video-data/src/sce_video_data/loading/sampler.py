"""A distributed, deterministic, resumable sampler.

Each epoch, the dataset indices are shuffled with ``torch.Generator().manual_seed(seed + epoch)`` (the same on every
rank), trimmed (``drop_last``) or padded so that every rank gets the same count, and rank ``r`` takes positions
``r, r + world, r + 2*world, ...``: ranks are disjoint. The state (epoch, samples already consumed by this rank)
lets a resumed run continue mid-epoch without repeating or skipping samples.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

__all__ = ["ResumableDistributedSampler", "epoch_order", "resolve_world"]


def resolve_world(num_replicas: int | None, rank: int | None) -> tuple[int, int]:
    """``(world size, rank)``: the given values, else ``torch.distributed``'s when initialised, else ``(1, 0)``.

    Raises:
        ValueError: ``rank`` is not in ``[0, num_replicas)``.
    """
    initialised = dist.is_available() and dist.is_initialized()
    world = num_replicas if num_replicas is not None else (dist.get_world_size() if initialised else 1)
    rank = rank if rank is not None else (dist.get_rank() if initialised else 0)
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank {rank} / num_replicas {world}: expected 0 <= rank < num_replicas")
    return world, rank


def epoch_order(num_samples: int, seed: int, epoch: int, shuffle: bool = True) -> list[int]:
    """The order of ``range(num_samples)`` in ``epoch``: ``randperm`` seeded with ``seed + epoch``, or the identity."""
    if not shuffle:
        return list(range(num_samples))
    return torch.randperm(num_samples, generator=torch.Generator().manual_seed(seed + epoch)).tolist()


class ResumableDistributedSampler(Sampler[int]):
    """Sampler with disjoint per-rank shards, ``(seed, epoch)``-determined order and mid-epoch resume.

    Args:
        num_samples: Dataset length.
        num_replicas: World size (default: from ``torch.distributed`` when initialised, else 1).
        rank: This rank (default: from ``torch.distributed`` when initialised, else 0).
        shuffle: Shuffle each epoch (otherwise the natural order).
        seed: Base seed shared by all ranks.
        drop_last: Drop the tail so that all ranks get ``num_samples // num_replicas`` samples; otherwise pad by
            repeating indices from the start of the permutation.

    Examples:
        >>> sampler = ResumableDistributedSampler(10, num_replicas=2, rank=0, seed=1)
        >>> sampler.set_epoch(3)
        >>> len(list(sampler))
        5
    """

    def __init__(
        self,
        num_samples: int,
        *,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = True,
    ) -> None:
        self.num_replicas, self.rank = resolve_world(num_replicas, rank)
        if num_samples < 0 or (drop_last and num_samples < self.num_replicas):
            raise ValueError(f"num_samples: {num_samples} samples cannot feed {self.num_replicas} ranks")
        self.num_samples, self.shuffle, self.seed, self.drop_last = num_samples, shuffle, seed, drop_last
        self.epoch = 0
        self._start = 0  # samples of this epoch already consumed (set by load_state_dict)
        self._yielded = 0

    @property
    def per_rank(self) -> int:
        """Samples per rank per epoch."""
        if self.drop_last:
            return self.num_samples // self.num_replicas
        return -(-self.num_samples // self.num_replicas)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (its order); a resumed position is kept only for the epoch it was saved in."""
        if epoch != self.epoch:
            self._start = 0
        self.epoch = epoch

    def indices(self, epoch: int) -> list[int]:
        """All indices this rank gets in ``epoch`` (from the start of the epoch)."""
        order = epoch_order(self.num_samples, self.seed, epoch, self.shuffle)
        total = self.per_rank * self.num_replicas
        if total > len(order):
            order = (order * (total // max(len(order), 1) + 1))[:total]
        return order[:total][self.rank :: self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        start = self._start
        self._yielded = start
        for index in self.indices(self.epoch)[start:]:
            self._yielded += 1
            yield index
        self._start = 0

    def __len__(self) -> int:
        return self.per_rank - self._start

    def state_dict(self, consumed: int | None = None) -> dict[str, Any]:
        """Position to resume from.

        Args:
            consumed: Samples of the current epoch this rank has actually used (e.g. ``steps * batch_size``).
                Default: the count yielded by the running iterator, exact only without DataLoader prefetching.
        """
        done = self._yielded if consumed is None else consumed
        return {
            "epoch": self.epoch,
            "consumed": int(done),
            "seed": self.seed,
            "num_samples": self.num_samples,
            "num_replicas": self.num_replicas,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state``: the next iteration yields the rest of that epoch."""
        for key in ("seed", "num_samples", "num_replicas"):
            if state.get(key) != getattr(self, key):
                raise ValueError(
                    f"sampler state: {key}={state.get(key)} does not match this sampler's {getattr(self, key)}"
                )
        if not 0 <= state["consumed"] <= self.per_rank:
            raise ValueError(f"sampler state: consumed={state['consumed']} outside [0, {self.per_rank}]")
        self.epoch, self._start, self._yielded = int(state["epoch"]), int(state["consumed"]), int(state["consumed"])
