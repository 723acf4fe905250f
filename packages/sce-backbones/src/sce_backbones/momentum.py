"""Momentum (EMA) encoder and its cosine schedule (SPEC 2.1)."""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn


def cosine_momentum(step: int, total_steps: int, base: float = 0.99) -> float:
    """Momentum of the EMA that follows optimizer step ``step`` (0-based), SPEC 2.1.

    ``m_t = 1 - (1 - base) * (cos(pi * t / (total_steps - 1)) + 1) / 2``: ``base`` at step 0, exactly 1.0 at the last
    step ``total_steps - 1``. A one-step run uses ``base``.

    Args:
        step: the optimizer step just taken, ``0 <= step < total_steps``.
        total_steps: steps per epoch times epochs.
        base: the initial momentum m0 (0.99 in every SCE config).

    Raises:
        ValueError: for a step outside ``[0, total_steps)``, ``total_steps < 1`` or ``base`` outside ``[0, 1]``.

    Examples:
        >>> cosine_momentum(0, 101), cosine_momentum(50, 101), cosine_momentum(100, 101)
        (0.99, 0.995, 1.0)
    """
    if not 0.0 <= base <= 1.0:
        raise ValueError(f"base momentum must be in [0, 1], got {base}")
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if not 0 <= step < total_steps:
        raise ValueError(f"step must be in [0, {total_steps}), got {step}")
    if total_steps == 1:
        return base
    if step == total_steps - 1:
        return 1.0
    # Same value as the formula above, written so that step 0 returns ``base`` bit for bit.
    return base + (1.0 - base) * (1.0 - math.cos(math.pi * step / (total_steps - 1))) / 2.0


@torch.no_grad()
def ema_update(target: nn.Module, source: nn.Module, momentum: float) -> None:
    """In place ``θ_target ← m·θ_target + (1 − m)·θ_source`` for every parameter; buffers are left alone (SPEC 2.1).

    Args:
        target: the momentum copy.
        source: the online module; it must have the same parameter names and shapes.
        momentum: m in ``[0, 1]``; 1 leaves the target unchanged, 0 copies the source.

    Raises:
        ValueError: if ``momentum`` is outside ``[0, 1]`` or the two modules' parameters differ in names or shapes.
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
    targets: list[torch.Tensor] = []
    sources: list[torch.Tensor] = []
    source_params = dict(source.named_parameters())
    for name, param in target.named_parameters():
        other = source_params.pop(name, None)
        if other is None or other.shape != param.shape:
            found = "missing" if other is None else f"shape {tuple(other.shape)}"
            raise ValueError(f"ema_update: target parameter {name!r} {tuple(param.shape)} has source {found}")
        targets.append(param)
        sources.append(other.detach())
    if source_params:
        raise ValueError(f"ema_update: source parameters absent from target: {sorted(source_params)[:10]}")
    if targets:
        torch._foreach_mul_(targets, momentum)
        torch._foreach_add_(targets, sources, alpha=1.0 - momentum)


class MomentumEncoder(nn.Module):
    """A frozen copy of a module that follows it by EMA of parameters (SPEC 2.1).

    The copy starts as an exact copy of ``source`` (parameters and buffers), its parameters have
    ``requires_grad=False``, and :meth:`forward` runs under ``torch.no_grad()``. It stays in whatever train/eval mode
    it is put in (the authors run it in train mode, so BN uses batch statistics and keeps its own running stats).

    Args:
        source: the online module (e.g. ``nn.Sequential(trunk, projector)``); it is not registered as a child.

    Examples:
        >>> online = nn.Linear(2, 2)
        >>> momentum = MomentumEncoder(online)
        >>> momentum.update(online, 0.99)
    """

    def __init__(self, source: nn.Module) -> None:
        super().__init__()
        self.module = copy.deepcopy(source)
        self.module.requires_grad_(False)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the momentum copy without building a graph."""
        with torch.no_grad():
            return self.module(*args, **kwargs)

    def update(self, source: nn.Module, momentum: float) -> None:
        """EMA step towards ``source``: see :func:`ema_update`."""
        ema_update(self.module, source, momentum)
