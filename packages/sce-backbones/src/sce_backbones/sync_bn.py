"""Synchronised batch norm for the 1-D, 2-D and 3-D BN layers of trunks and heads (SPEC 2.5).

``torch.nn.SyncBatchNorm`` refuses CPU tensors once a process group exists, and DDP refuses CPU modules holding it,
which rules out the gloo/CPU runs used for tests and small trainings. :class:`SyncBatchNorm` has the same parameters
and buffers: on accelerators it runs torch's ``SyncBatchNorm.forward`` unchanged;
on CPU it computes the global mean and variance with two differentiable all-reduces (sum, then sum of squared
deviations), so outputs, gradients and running statistics equal those of one BN over the concatenated batch.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes whose backward sums the gradients over processes too (the adjoint of a sum)."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, tensor: Tensor, group: dist.ProcessGroup | None) -> Tensor:
        ctx.group = group  # type: ignore[attr-defined]
        out = tensor.clone()
        dist.all_reduce(out, group=group)
        return out

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> tuple[Tensor, None]:
        out = grad.clone()
        dist.all_reduce(out, group=ctx.group)  # type: ignore[attr-defined]
        return out, None


def _all_reduce_sum(tensor: Tensor, group: dist.ProcessGroup | None = None) -> Tensor:
    """Differentiable sum of ``tensor`` over the processes of ``group``."""
    return _AllReduceSum.apply(tensor, group)


class SyncBatchNorm(_BatchNorm):
    """Synchronised batch norm for any tensor rank ≥ 2; same parameters, buffers and keys as ``nn.SyncBatchNorm``.

    It deliberately does not subclass ``torch.nn.SyncBatchNorm``: DDP refuses modules holding that class on CPU
    ("SyncBatchNorm layers only work with GPU modules"), which would rule out gloo runs. On accelerators the forward
    pass is torch's own ``SyncBatchNorm.forward``.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        process_group: dist.ProcessGroup | None = None,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.process_group = process_group

    def _check_input_dim(self, input: Tensor) -> None:  # noqa: A002 - torch's argument name
        if input.dim() < 2:
            raise ValueError(f"SyncBatchNorm expects at least 2-D input (N, C, ...), got {input.dim()}-D input")

    def _check_non_zero_input_channels(self, input: Tensor) -> None:  # noqa: A002
        if input.size(1) == 0:
            raise ValueError("SyncBatchNorm: the number of input channels must be non-zero")

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - torch's argument name
        """Normalise with statistics over every process of the group in training mode, else like BatchNorm."""
        if input.device.type != "cpu" or not self._sync_needed():
            return nn.SyncBatchNorm.forward(self, input)  # type: ignore[arg-type]
        self._check_input_dim(input)
        self._check_non_zero_input_channels(input)
        return self._cpu_sync_forward(input)

    def _group(self) -> dist.ProcessGroup | None:
        """The group to synchronise over; ``None`` means the default group."""
        return self.process_group if self.process_group is not None else dist.group.WORLD

    def _sync_needed(self) -> bool:
        uses_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        if not (uses_batch_stats and self.training and dist.is_available() and dist.is_initialized()):
            return False
        return dist.get_world_size(self._group()) > 1

    def _cpu_sync_forward(self, x: Tensor) -> Tensor:
        group = self._group()
        dims = [0, *range(2, x.dim())]
        shape = [1, x.shape[1]] + [1] * (x.dim() - 2)
        xf = x.float()
        count = torch.full((1,), x.numel() / x.shape[1], dtype=xf.dtype)
        totals = _all_reduce_sum(torch.cat([xf.sum(dims), count]), group=group)
        n = totals[-1]
        mean = totals[:-1] / n
        centered = xf - mean.view(shape)
        var = _all_reduce_sum(centered.square().sum(dims), group=group) / n
        y = centered * torch.rsqrt(var + self.eps).view(shape)
        if self.weight is not None and self.bias is not None:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        self._update_running_stats(mean.detach(), var.detach(), float(n.item()))
        return y.to(x.dtype)

    @torch.no_grad()
    def _update_running_stats(self, mean: Tensor, var: Tensor, n: float) -> None:
        if not self.track_running_stats or self.running_mean is None or self.running_var is None:
            return
        assert self.num_batches_tracked is not None
        self.num_batches_tracked.add_(1)
        factor = 1.0 / float(self.num_batches_tracked.item()) if self.momentum is None else self.momentum
        unbiased = var * (n / max(n - 1.0, 1.0))
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
        self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)


def _to_sync(bn: _BatchNorm, process_group: dist.ProcessGroup | None) -> SyncBatchNorm:
    sync = SyncBatchNorm(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats, process_group)
    if bn.affine:
        sync.weight = bn.weight
        sync.bias = bn.bias
    sync.running_mean = bn.running_mean
    sync.running_var = bn.running_var
    sync.num_batches_tracked = bn.num_batches_tracked
    sync.train(bn.training)
    if hasattr(bn, "block_final_bn"):
        sync.block_final_bn = bn.block_final_bn
    return sync


def convert_sync_batchnorm(module: nn.Module, process_group: dist.ProcessGroup | None = None) -> nn.Module:
    """Replace every ``BatchNorm1d/2d/3d`` (and ``torch.nn.SyncBatchNorm``) in ``module`` by :class:`SyncBatchNorm`.

    Parameters and buffers are shared with the replaced layers (same tensors, so state-dict keys and values are
    unchanged), and each layer keeps its train/eval mode. Works on a module or a BN layer itself.

    Args:
        module: the module to convert (in place for children).
        process_group: the group to synchronise over; the default group when ``None``.

    Returns:
        The converted module (a new object only when ``module`` is itself a BN layer).

    Examples:
        >>> net = convert_sync_batchnorm(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)))
        >>> type(net[1]).__name__
        'SyncBatchNorm'
    """
    if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
        return _to_sync(module, process_group)
    for name, child in module.named_children():
        converted = convert_sync_batchnorm(child, process_group)
        if converted is not child:
            module.add_module(name, converted)
    return module
