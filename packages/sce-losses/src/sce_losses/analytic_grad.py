"""Attach a gradient computed analytically in the forward pass to a loss value."""

from __future__ import annotations

import torch
from torch import Tensor


def attach_query_gradient(
    query: Tensor,
    loss: Tensor,
    temp: float,
    bank_grads: list[Tensor],
    banks: list[Tensor],
    positive_grad: Tensor | None = None,
    key: Tensor | None = None,
) -> Tensor:
    """Return ``loss`` (a value computed without autograd) with ``d loss / d query`` wired to the graph.

    The loss depends on ``query`` only through the logits ``query·bank_bᵀ/τ`` of each bank (gradient
    ``bank_grads[b]``, (B, K_b)) and, optionally, the per-sample positive logits ``query_i·key_i/τ`` (gradient
    ``positive_grad``, (B,)). The backward pass is ``(Σ_b bank_grads[b] @ bank_b + positive_grad·key)/τ``: one matrix
    product per bank, and only these gradients and the banks are kept for it.

    Args:
        query: (B, D), the tensor that receives the gradient.
        loss: the scalar loss value, computed under ``no_grad``.
        temp: τ.
        bank_grads: per bank, the (B, K_b) gradient of the loss with respect to its logits.
        banks: per bank, the (K_b, D) keys.
        positive_grad: the (B,) gradient with respect to the positive logits, or None.
        key: the (B, D) keys of the positive logits, with ``positive_grad``.

    Returns:
        ``loss``, differentiable with respect to ``query`` when it requires grad.
    """
    if not (query.requires_grad and torch.is_grad_enabled()):
        return loss
    positive = [] if positive_grad is None or key is None else [positive_grad, key]
    return _AttachGradient.apply(query, loss, temp, len(banks), *bank_grads, *banks, *positive)


class _AttachGradient(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx, query: Tensor, loss: Tensor, temp: float, count: int, *saved: Tensor
    ) -> Tensor:
        ctx.save_for_backward(*saved)
        ctx.count = count  # type: ignore[attr-defined]
        ctx.temp = temp  # type: ignore[attr-defined]
        ctx.query_dtype = query.dtype  # type: ignore[attr-defined]
        return loss.clone()

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_loss: Tensor) -> tuple[Tensor | None, ...]:
        saved = ctx.saved_tensors  # type: ignore[attr-defined]
        count = ctx.count  # type: ignore[attr-defined]
        grads, banks, positive = saved[:count], saved[count : 2 * count], saved[2 * count :]
        total: Tensor | None = None
        for grad, bank in zip(grads, banks, strict=True):
            dtype = torch.promote_types(grad.dtype, bank.dtype)
            term = grad.to(dtype) @ bank.to(dtype)
            total = term if total is None else total + term
        if positive:
            positive_grad, key = positive
            term = positive_grad.unsqueeze(1) * key.to(positive_grad.dtype)
            total = term if total is None else total + term
        assert total is not None, "the loss has no logits"
        grad_query = (total * (grad_loss / ctx.temp)).to(ctx.query_dtype)  # type: ignore[attr-defined]
        return (grad_query, None, None, None) + (None,) * len(saved)
