"""The MoCo / InfoNCE loss (SPEC 1.3): SCE with λ = 1."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from sce_losses.input_checks import check_bank, check_finite, check_pair


def moco_loss(query: Tensor, key: Tensor, queue: Tensor | None, *, temp: float = 0.2) -> Tensor:
    """MoCo's InfoNCE loss: cross-entropy on ``[q·k, q·Q_1, …, q·Q_K]/τ`` with the positive at column 0.

    This is the special case λ = 1 of :func:`sce_losses.sce_loss` (SPEC 1.3) and equals it with the same temperature.
    The default temperature 0.2 is MoCo's (SPEC 1.3). Gradients reach ``query`` only.

    Args:
        query: (B, D) online predictions, L2-normalised by the caller.
        key: (B, D) momentum keys, L2-normalised by the caller.
        queue: (K, D) negatives, one key per row, or None (then the loss is 0).
        temp: τ.

    Returns:
        The scalar loss, averaged over the batch.

    Examples:
        >>> import torch
        >>> import torch.nn.functional as F
        >>> from sce_losses import moco_loss
        >>> q, k = F.normalize(torch.randn(2, 4, 16), dim=2)
        >>> moco_loss(q, k, F.normalize(torch.randn(32, 16), dim=1)).ndim
        0
    """
    check_pair(query, key)
    check_bank("queue", queue, query)
    check_finite(query=query, key=key, queue=queue)
    key = key.detach()
    positive = torch.linalg.vecdot(query, key).unsqueeze(1)
    logits = positive if queue is None else torch.cat([positive, query @ queue.detach().T], dim=1)
    labels = torch.zeros(query.shape[0], dtype=torch.long, device=query.device)
    return F.cross_entropy(logits.to(torch.promote_types(logits.dtype, torch.float32)) / temp, labels)
