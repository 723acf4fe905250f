"""LARS exactly as the SCE recipes use it (SPEC 2.7)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer


class LARS(Optimizer):
    """Layer-wise adaptive rate scaling with momentum (SPEC 2.7).

    For each parameter ``p`` with ``p.ndim > 1`` (conv and linear weights): ``d = grad + wd·p`` then
    ``d *= η·‖p‖/‖d‖`` (η = ``trust_coefficient``; the ratio is 1 when either norm is 0; no clipping). For 1-D
    parameters (BN γ/β, biases): ``d = grad``, with neither weight decay nor adaptation. Then ``μ ← momentum·μ + d``
    and ``p ← p − lr·μ`` (no Nesterov, no dampening).

    Args:
        params: parameters or parameter groups.
        lr: learning rate.
        momentum: heavy-ball momentum (0.9 in every recipe).
        weight_decay: applied to parameters with ``ndim > 1`` only.
        trust_coefficient: η.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        trust_coefficient: float = 1e-3,
    ) -> None:
        if lr < 0:
            raise ValueError(f"lr must be >= 0, got {lr}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        if trust_coefficient <= 0:
            raise ValueError(f"trust_coefficient must be > 0, got {trust_coefficient}")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "weight_decay": weight_decay,
            "trust_coefficient": trust_coefficient,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Perform one optimisation step."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                direction = _lars_direction(p, p.grad, group["weight_decay"], group["trust_coefficient"])
                state = self.state[p]
                buffer = state.get("momentum_buffer")
                if buffer is None:
                    buffer = state["momentum_buffer"] = direction.clone()
                else:
                    buffer.mul_(group["momentum"]).add_(direction)
                p.add_(buffer, alpha=-group["lr"])
        return loss


def _lars_direction(p: Tensor, grad: Tensor, weight_decay: float, trust: float) -> Tensor:
    if p.ndim <= 1:
        return grad
    direction = grad.add(p, alpha=weight_decay) if weight_decay else grad.clone()
    param_norm = torch.linalg.vector_norm(p)
    direction_norm = torch.linalg.vector_norm(direction)
    ratio = torch.where(
        (param_norm > 0) & (direction_norm > 0), trust * param_norm / direction_norm, torch.ones_like(param_norm)
    )
    return direction.mul_(ratio)
