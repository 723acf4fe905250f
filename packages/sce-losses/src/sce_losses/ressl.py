"""The ReSSL loss (SPEC 1.3): relational consistency between query and key distributions over the negatives."""

from __future__ import annotations

import torch
from torch import Tensor

from sce_losses.input_checks import check_all_keys, check_bank, check_finite, check_pair
from sce_losses.sce import LARGE_NUM


def ressl_loss(
    query: Tensor,
    key: Tensor,
    queue: Tensor | None,
    *,
    temp: float = 0.1,
    temp_m: float = 0.04,
    all_keys: Tensor | None = None,
    rank: int = 0,
) -> Tensor:
    """ReSSL: ``−(1/B) Σ_i Σ_j softmax(ℓk_i)_j · log_softmax(ℓq_i)_j`` over the negatives only (SPEC 1.3).

    With ``all_keys=None`` the columns are the queue alone: the positive is dropped from both distributions. With
    ``all_keys`` the columns are ``[all B·W keys, queue]`` and sample i's own key (column ``rank·B + i``) is removed by
    subtracting 1e9 in **both** the query and the key logits. The target ``softmax(ℓk)`` is detached. This differs from
    SCE at λ = 0, which keeps the positive in the query softmax with zero target mass (SPEC 1.3).

    Args:
        query: (B, D) online predictions, L2-normalised by the caller.
        key: (B, D) momentum keys, L2-normalised by the caller.
        queue: (K, D) negatives, one key per row; may be None only when ``all_keys`` is given.
        temp: τ of the query distribution (ReSSL default 0.1).
        temp_m: τm of the key distribution (ReSSL default 0.04).
        all_keys: None, or the (B·W, D) keys of the global batch in rank order.
        rank: this process's rank, locating the positives inside ``all_keys``.

    Returns:
        The scalar loss, averaged over the batch.

    Examples:
        >>> import torch
        >>> import torch.nn.functional as F
        >>> from sce_losses import ressl_loss
        >>> q, k = F.normalize(torch.randn(2, 4, 16), dim=2)
        >>> ressl_loss(q, k, F.normalize(torch.randn(32, 16), dim=1)).ndim
        0
    """
    check_pair(query, key)
    check_bank("queue", queue, query)
    check_all_keys(all_keys, query, rank)
    if queue is None and all_keys is None:
        raise ValueError("ressl_loss needs a queue or all_keys: without negatives there is no distribution")
    check_finite(query=query, key=key, queue=queue, all_keys=all_keys)
    key = key.detach()
    bank = torch.cat([b.detach() for b in (all_keys, queue) if b is not None])
    dtype = torch.promote_types(query.dtype, torch.float32)
    query_logits = (query @ bank.T).to(dtype)
    with torch.no_grad():
        key_logits = (key @ bank.T).to(dtype)
    if all_keys is not None:
        rows = torch.arange(query.shape[0], device=query.device)
        mask = torch.zeros_like(key_logits)
        mask[rows, rank * query.shape[0] + rows] = LARGE_NUM
        query_logits = query_logits - mask
        key_logits = key_logits - mask
    target = torch.softmax(key_logits / temp_m, dim=1)
    return -(target * torch.log_softmax(query_logits / temp, dim=1)).sum(dim=1).mean()
