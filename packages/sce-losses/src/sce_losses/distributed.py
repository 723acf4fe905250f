"""Gathering tensors across processes, with correct gradients.

`gather` is the only place of the package that touches `torch.distributed`, and it does so only when a process group
is initialised with more than one process. Everything else in `sce_losses` is single-process code.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def is_distributed() -> bool:
    """Whether a default process group with more than one process is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """The number of processes of the default group, 1 when not distributed."""
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    """This process's rank in the default group, 0 when not distributed."""
    return dist.get_rank() if is_distributed() else 0


def gather(tensor: Tensor) -> Tensor:
    """Concatenate ``tensor`` over all processes along dimension 0, in rank order.

    Every process must pass a tensor of the same shape. Without an initialised process group (or with a single
    process) this is the identity. When ``tensor`` requires grad, the gather is differentiable: each process's input
    receives the sum over processes of the gradient flowing into its slice (the adjoint of an all-gather), so a loss
    averaged over processes gets exactly the gradients of the single-process computation on the whole batch.

    Args:
        tensor: a tensor of shape (B, ...), identical in shape on every process.

    Returns:
        A tensor of shape (B·W, ...) where W is the world size; rows ``r·B … (r+1)·B − 1`` come from rank r.

    Examples:
        >>> import torch
        >>> from sce_losses import gather
        >>> gather(torch.ones(2, 3)).shape  # not distributed: identity
        torch.Size([2, 3])
    """
    if not is_distributed():
        return tensor
    if tensor.requires_grad and torch.is_grad_enabled():
        return _AllGatherWithGrad.apply(tensor)
    output = tensor.new_empty((world_size() * tensor.shape[0], *tensor.shape[1:]))
    _all_gather_single(output, tensor.contiguous())
    return output


def _all_gather_single(output: Tensor, tensor: Tensor) -> None:
    """All-gather into one tensor with the current torch API (``all_gather_single`` when this torch has it)."""
    (getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor)(output, tensor)


def _reduce_scatter_single(output: Tensor, tensor: Tensor) -> None:
    """Sum-reduce-scatter with the current torch API (``reduce_scatter_single`` when this torch has it)."""
    (getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor)(output, tensor, op=dist.ReduceOp.SUM)


class _AllGatherWithGrad(torch.autograd.Function):
    """All-gather whose backward sums the gradients of every process and keeps this process's slice."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, tensor: Tensor) -> Tensor:
        ctx.batch = tensor.shape[0]  # type: ignore[attr-defined]
        output = tensor.new_empty((world_size() * tensor.shape[0], *tensor.shape[1:]))
        _all_gather_single(output, tensor.contiguous())
        return output

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> Tensor:
        batch = ctx.batch  # type: ignore[attr-defined]
        grad_input = grad.new_empty((batch, *grad.shape[1:]))
        _reduce_scatter_single(grad_input, grad.contiguous())
        return grad_input
