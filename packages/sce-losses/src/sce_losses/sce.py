"""The SCE loss (Denize et al., WACV 2023; SPEC 1.2) as a pure function."""

from __future__ import annotations

import torch
from torch import Tensor

from sce_losses.analytic_grad import attach_query_gradient
from sce_losses.input_checks import check_all_keys, check_bank, check_finite, check_pair
from sce_losses.similarities import bank_logits

LARGE_NUM = 1e9
"""Subtracted from a target logit to remove it (SPEC 1.2 step 3), exactly as the authors do."""


def sce_loss(
    query: Tensor,
    key: Tensor,
    queue: Tensor | None = None,
    *,
    coeff: float = 0.5,
    temp: float = 0.1,
    temp_m: float = 0.07,
    all_keys: Tensor | None = None,
    rank: int = 0,
    mask_positive_target: bool = False,
) -> Tensor:
    r"""Similarity Contrastive Estimation loss, exactly as SPEC 1.2.

    For each sample i the columns are its positive and the negatives (the queue, plus with ``all_keys`` the other keys
    of the global batch). The prediction is ``log_softmax(ℓq_i)`` with ``ℓq_i = [q_i·k⁺, q_i·Q_1, …]/τ``. The target is
    ``w_i = L1normalise(λ·e⁺ + (1−λ)·softmax(ℓk_i))`` with ``ℓk_i = [s⁺, k_i·Q_1, …]/τm``, and the loss is
    ``−(1/B) Σ_i Σ_j w_ij log_softmax(ℓq_i)_j``.

    With ``all_keys=None`` (the published setting, ``use_keys=False``) the positive column holds ``q_i·k_i`` and its
    target logit ``s⁺`` is the constant 0 — the authors' behaviour (SPEC 1.2 "Oddity", reproduced on purpose).
    ``mask_positive_target=True`` gives the paper's formula instead (positive excluded from the target). With
    ``all_keys`` (``use_keys=True``) the columns are ``[all B·W keys, queue]``, sample i's positive is column
    ``rank·B + i`` and its target logit is ``(k_i·k_i − 1e9)/τm``.

    Gradients reach ``query`` only: ``key``, ``queue`` and ``all_keys`` are constants (the target carries no
    gradient). The queue similarities of query and key come from one matrix product, the gradient with respect to the
    query logits is computed in the forward pass, and it is the only (B, K) tensor kept for backward. Softmaxes run in
    float32 (float64 for float64 inputs), also under autocast.

    Args:
        query: (B, D) online predictions, L2-normalised by the caller.
        key: (B, D) momentum keys of the other view, L2-normalised by the caller.
        queue: (K, D) negatives, one key per row, or None.
        coeff: λ, the weight of the one-hot positive in the target.
        temp: τ, the temperature of the query distribution.
        temp_m: τm, the temperature of the key (relational) distribution.
        all_keys: None, or the (B·W, D) keys of the whole global batch in rank order.
        rank: this process's rank, locating the positives inside ``all_keys``.
        mask_positive_target: with ``all_keys=None``, give the positive a target logit of −∞ instead of 0.

    Returns:
        The scalar loss, averaged over the B samples.

    Raises:
        ValueError: on mismatched shapes, wrong ranks of tensors, an empty batch or non-finite values.

    Examples:
        >>> import torch
        >>> import torch.nn.functional as F
        >>> from sce_losses import sce_loss
        >>> q = F.normalize(torch.randn(8, 128), dim=1)
        >>> k = F.normalize(torch.randn(8, 128), dim=1)
        >>> queue = F.normalize(torch.randn(1024, 128), dim=1)
        >>> loss = sce_loss(q, k, queue, coeff=0.5, temp=0.1, temp_m=0.07)
        >>> loss.shape
        torch.Size([])
    """
    _check_inputs(query, key, queue, all_keys, rank, mask_positive_target)
    dtype = torch.promote_types(query.dtype, torch.float32)
    batch = query.shape[0]
    with torch.no_grad():
        q, k = query.detach(), key.detach()
        banks = [b.detach() for b in (all_keys, queue) if b is not None]
        logits = [bank_logits(q, k, bank, temp, temp_m, dtype) for bank in banks]
        positive_query = positive_target = None
        if all_keys is None:
            positive_query = torch.linalg.vecdot(q.to(dtype), k.to(dtype)) / temp
            positive_target = torch.full_like(positive_query, float("-inf") if mask_positive_target else 0.0)
        weights, positive_weight = _target(
            [lk[batch:] for lk in logits],
            positive_target,
            coeff,
            rank * batch if all_keys is not None else None,
            temp_m,
        )
        loss, bank_grads, positive_grad = _cross_entropy(
            [lq[:batch] for lq in logits], positive_query, weights, positive_weight, batch
        )
    return attach_query_gradient(query, loss, temp, bank_grads, banks, positive_grad, k)


def _check_inputs(
    query: Tensor,
    key: Tensor,
    queue: Tensor | None,
    all_keys: Tensor | None,
    rank: int,
    mask_positive_target: bool,
) -> None:
    check_pair(query, key)
    check_bank("queue", queue, query)
    check_all_keys(all_keys, query, rank)
    if mask_positive_target and queue is None and all_keys is None:
        raise ValueError(
            f"mask_positive_target=True needs a queue or all_keys (got neither, query {tuple(query.shape)}): "
            "the target would have no column left"
        )
    check_finite(query=query, key=key, queue=queue, all_keys=all_keys)


def _target(
    key_logits: list[Tensor],
    positive_logit: Tensor | None,
    coeff: float,
    positive_offset: int | None,
    temp_m: float,
) -> tuple[list[Tensor], Tensor | None]:
    """The target ``w = L1normalise(λ·e⁺ + (1−λ)·softmax(ℓk))`` block by block (SPEC 1.2 steps 3, 5, 6).

    Args:
        key_logits: the (B, ·) key logits of each bank, already divided by τm; overwritten by the weights.
        positive_logit: (B,) target logit of a separate positive column, or None when the positive lies inside the
            first bank (``all_keys``) at column ``positive_offset + i``.
        coeff: λ.
        positive_offset: ``rank·B`` when the positives are inside the first bank, else None.
        temp_m: τm, to remove the positive from the target as ``(s − 1e9)/τm``.

    Returns:
        The weights (float32 or wider) of each bank and of the separate positive column (None without one).
    """
    weights = key_logits
    if positive_offset is not None:
        rows = torch.arange(weights[0].shape[0], device=weights[0].device)
        positives = (rows, positive_offset + rows)
        weights[0][positives] -= LARGE_NUM / temp_m
    maxima = [w.amax(dim=1) for w in weights] + ([positive_logit] if positive_logit is not None else [])
    shift = torch.stack(maxima, dim=1).amax(dim=1, keepdim=True)
    total = torch.zeros_like(shift[:, 0])
    for w in weights:
        total += w.sub_(shift).exp_().sum(dim=1)
    positive_weight = None
    if positive_logit is not None:
        positive_weight = (positive_logit - shift[:, 0]).exp()
        total += positive_weight
        positive_weight = coeff + (1.0 - coeff) * positive_weight / total
    scale = ((1.0 - coeff) / total).unsqueeze(1)
    for w in weights:
        w.mul_(scale)
    if positive_offset is not None:
        weights[0][positives] += coeff
    # For 0 <= λ <= 1 every weight is non-negative and the L1 norm is a plain sum (no abs pass over (B, K)).
    l1 = (lambda w: w.sum(dim=1)) if 0.0 <= coeff <= 1.0 else (lambda w: torch.linalg.vector_norm(w, ord=1, dim=1))
    norms = [l1(w) for w in weights]
    if positive_weight is not None:
        norms.append(positive_weight.abs())
    norm = torch.stack(norms, dim=1).sum(dim=1).clamp_min(1e-12)
    for w in weights:
        w.div_(norm.unsqueeze(1))
    if positive_weight is not None:
        positive_weight = positive_weight / norm
    return weights, positive_weight


def _cross_entropy(
    query_logits: list[Tensor],
    positive_logit: Tensor | None,
    weights: list[Tensor],
    positive_weight: Tensor | None,
    batch: int,
) -> tuple[Tensor, list[Tensor], Tensor | None]:
    """The loss ``mean_i(−Σ_j w_ij log_softmax(ℓq_i)_j)`` and its gradient with respect to the query logits.

    Uses ``−Σ_j w_ij log_softmax(ℓq_i)_j = lse_i·M_i − Σ_j w_ij ℓq_ij`` with ``M_i = Σ_j w_ij``, so no (B, K)
    log-softmax is built, and ``d loss / d ℓq_ij = (softmax(ℓq_i)_j·M_i − w_ij)/B``, written in place over the query
    logits (then copied out, so that the storage shared with the key logits is released).

    Returns:
        The scalar loss, the (B, K_b) logit gradients of each bank, and the (B,) gradient of the positive column
        (None without one).
    """
    dots = [_rowwise_dot(w, lq) for w, lq in zip(weights, query_logits, strict=True)]
    mass_terms = [w.sum(dim=1) for w in weights]
    maxima = [lq.amax(dim=1) for lq in query_logits]
    lse_terms = [
        m + lq.sub_(m.unsqueeze(1)).exp_().sum(dim=1).log() for m, lq in zip(maxima, query_logits, strict=True)
    ]
    if positive_logit is not None and positive_weight is not None:
        lse_terms.append(positive_logit)
        dots.append(positive_weight * positive_logit)
        mass_terms.append(positive_weight)
    lse = torch.logsumexp(torch.stack(lse_terms, dim=1), dim=1)
    mass = torch.stack(mass_terms, dim=1).sum(dim=1)
    loss = (lse * mass - torch.stack(dots, dim=1).sum(dim=1)).mean()
    # query_logits now hold exp(ℓq − m): softmax(ℓq) = that · exp(m − lse).
    bank_grads = [
        p.mul_(((m - lse).exp() * mass / batch).unsqueeze(1)).sub_(w.div_(batch)).clone()
        for p, m, w in zip(query_logits, maxima, weights, strict=True)
    ]
    positive_grad = None
    if positive_logit is not None and positive_weight is not None:
        positive_grad = ((positive_logit - lse).exp() * mass - positive_weight) / batch
    return loss, bank_grads, positive_grad


def _rowwise_dot(a: Tensor, b: Tensor) -> Tensor:
    """``Σ_j a_ij b_ij`` per row, as a batched matrix product (no (B, K) temporary)."""
    return torch.bmm(a.unsqueeze(1), b.unsqueeze(2)).reshape(-1)
