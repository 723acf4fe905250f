"""Splitting work over processes: one contiguous slice of the items per process, merged back in item order."""

from __future__ import annotations

import torch
from lightning_fabric import Fabric

__all__ = ["gather_in_order", "rank_slice"]


def rank_slice(count: int, rank: int, world: int) -> range:
    """Contiguous slice of ``range(count)`` for ``rank``; the first ``count % world`` ranks get one item more.

    Concatenating the slices of ranks ``0 .. world-1`` gives ``range(count)`` back, each item once.
    """
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank {rank} of world {world}: expected 0 <= rank < world")
    base, extra = divmod(count, world)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (1 if rank < extra else 0))


def gather_in_order(fabric: Fabric, rows: torch.Tensor, count: int) -> torch.Tensor:
    """Concatenate every process's ``rows`` (its :func:`rank_slice` of ``count`` items) in item order.

    Slices differ in length by at most one, so each process pads to the longest before the all-gather and the padding
    is dropped afterwards. With one process ``rows`` is returned as is.

    Args:
        fabric: the launched Fabric.
        rows: this process's rows, ``(len(rank_slice(count, rank, world)), ...)``.
        count: the total number of items.

    Returns:
        ``(count, ...)`` rows on every process.
    """
    world = fabric.world_size
    if world == 1:
        return rows
    longest = len(rank_slice(count, 0, world))
    padded = rows.new_zeros((longest, *rows.shape[1:]))
    padded[: len(rows)] = rows
    gathered = fabric.all_gather(padded)  # (world, longest, ...)
    assert isinstance(gathered, torch.Tensor)
    return torch.cat([gathered[r, : len(rank_slice(count, r, world))] for r in range(world)])
