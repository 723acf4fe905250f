"""Apply a batched operation to a chosen subset of samples only."""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["apply_to_subset"]


def apply_to_subset(
    x: torch.Tensor, mask: torch.Tensor, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """Return a copy of ``x`` where the samples selected by ``mask`` are replaced by ``fn(x[idx], idx)``.

    Only the selected samples are computed. The input is never modified.

    Args:
        x: Batch ``(B, ...)``.
        mask: ``(B,)`` booleans (any device).
        fn: Called with the selected samples and their indices (on the mask's device); returns the new samples.

    Returns:
        The new batch (``x`` itself when nothing is selected).
    """
    idx = mask.nonzero().flatten()
    if idx.numel() == 0:
        return x
    if idx.numel() == x.shape[0]:
        return fn(x, idx)
    idx_x = idx.to(x.device)
    out = x.clone()
    out[idx_x] = fn(x[idx_x], idx)
    return out
