"""Deterministic top-k selection and merging (the tie rule shared by every backend).

Tie rule: candidates are ordered by score (best first) and, among exactly equal scores, by **smaller bank index
first**. This decides both which items enter the top k when several tie at the k-th place and their order.
"""

from __future__ import annotations

import numpy as np
import torch


def canonical_order(values: torch.Tensor, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reorder each row by (value descending, index ascending).

    Args:
        values: Similarities, shape ``(Q, m)`` (higher is better).
        indices: Bank indices, shape ``(Q, m)``.

    Returns:
        The reordered ``(values, indices)``.
    """
    by_index = indices.argsort(dim=1)
    values, indices = values.gather(1, by_index), indices.gather(1, by_index)
    by_value = torch.sort(values, dim=1, descending=True, stable=True).indices
    return values.gather(1, by_value), indices.gather(1, by_value)


def block_topk(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k of every row of a score block under the tie rule, without sorting whole rows unless a row ties at k.

    ``torch.topk`` does not specify which of several equal values it returns, so k+1 values are taken: where the
    k-th and (k+1)-th are equal the row is re-ranked with a stable sort (rare for real features).

    Args:
        scores: Similarities, shape ``(Q, B)`` (higher is better); column ``j`` is bank item ``j`` of the block.
        k: Number of neighbours; if ``k >= B`` the whole row is returned, sorted.

    Returns:
        ``(values, indices)`` of shape ``(Q, min(k, B))``, indices relative to the block.
    """
    if k >= scores.shape[1]:
        return torch.sort(scores, dim=1, descending=True, stable=True)
    values, indices = torch.topk(scores, k + 1, dim=1, largest=True, sorted=True)
    tied = (values[:, k - 1] == values[:, k]).nonzero().squeeze(1)
    values, indices = values[:, :k].contiguous(), indices[:, :k].contiguous()
    inner = (values[:, 1:] == values[:, :-1]).any(dim=1).nonzero().squeeze(1)  # rows with ties inside the top k
    if inner.numel() > 0:
        values[inner], indices[inner] = canonical_order(values[inner], indices[inner])
    if tied.numel() > 0:
        tied_values, tied_indices = torch.sort(scores[tied], dim=1, descending=True, stable=True)
        values[tied], indices[tied] = tied_values[:, :k], tied_indices[:, :k]
    return values, indices


def merge_topk(
    best: tuple[torch.Tensor, torch.Tensor], new: tuple[torch.Tensor, torch.Tensor], k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge a running top-k with the top-k of a later bank block.

    Both inputs must already follow the tie rule and every index in ``best`` must be smaller than every index in
    ``new`` (blocks are visited in bank order); a stable sort of the concatenation then keeps the tie rule.

    Args:
        best: Running ``(values, indices)``, shape ``(Q, m)`` with ``m <= k`` (``m`` may be 0).
        new: The block's ``(values, indices)`` with global indices.
        k: Number of neighbours kept.

    Returns:
        The merged ``(values, indices)``, shape ``(Q, min(k, m + m_new))``.
    """
    values = torch.cat([best[0], new[0]], dim=1)
    indices = torch.cat([best[1], new[1]], dim=1)
    order = torch.sort(values, dim=1, descending=True, stable=True).indices[:, :k]
    return values.gather(1, order), indices.gather(1, order)


def canonical_order_numpy(values: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NumPy version of :func:`canonical_order` (value descending, then index ascending)."""
    order = np.lexsort((indices, -values.astype(np.float64)), axis=1)
    return np.take_along_axis(values, order, axis=1), np.take_along_axis(indices, order, axis=1)
