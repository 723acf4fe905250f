"""Learning-rate scaling and the per-step warmup + cosine schedule (SPEC 2.7)."""

from __future__ import annotations

import math
from dataclasses import dataclass


def scaled_lr(initial_lr: float, global_batch_size: int, reference_batch: int = 256) -> float:
    """The linear scaling rule: ``initial_lr × global_batch / 256`` (SPEC 2.7, e.g. 2.4 × 512/256 = 4.8)."""
    if global_batch_size <= 0:
        raise ValueError(f"global_batch_size must be positive, got {global_batch_size}")
    return initial_lr * global_batch_size / reference_batch


def warmup_cosine_lr(step: int, base_lr: float, warmup_steps: int, total_steps: int, eta_min: float = 0.0) -> float:
    """Learning rate of 0-based optimizer step ``step`` (SPEC 2.7).

    ``base·t/(W−1)`` for ``t < W`` (so the very first step uses 0), then
    ``eta_min + (base − eta_min)·½(1 + cos(π(t−W)/(T−W)))`` for ``W ≤ t``, down to ``eta_min`` at ``t = T``.

    Args:
        step: the 0-based optimizer step t.
        base_lr: the (already batch-scaled) peak learning rate.
        warmup_steps: W = warmup epochs × steps per epoch (0 for no warmup).
        total_steps: T = max epochs × steps per epoch.
        eta_min: the final learning rate (0 in every recipe).
    """
    if total_steps <= 0 or not 0 <= warmup_steps <= total_steps:
        raise ValueError(
            f"expected 0 <= warmup_steps <= total_steps and total_steps > 0, got {warmup_steps}, {total_steps}"
        )
    if step < warmup_steps:
        return base_lr * step / max(warmup_steps - 1, 1)
    if total_steps == warmup_steps:
        return base_lr
    progress = min(step - warmup_steps, total_steps - warmup_steps) / (total_steps - warmup_steps)
    return eta_min + (base_lr - eta_min) * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class WarmupCosineSchedule:
    """The per-step LR of a run (SPEC 2.7, 5.1-5.3): ``schedule(t)`` is :func:`warmup_cosine_lr` of step ``t``.

    Attributes:
        base_lr: the peak LR.
        warmup_steps: steps of linear warmup from 0.
        total_steps: steps of the whole run (the cosine reaches 0 there).
    """

    base_lr: float
    warmup_steps: int
    total_steps: int

    @classmethod
    def from_epochs(
        cls,
        initial_lr: float,
        global_batch_size: int,
        *,
        scale: bool,
        warmup_epochs: float,
        steps_per_epoch: int,
        total_steps: int,
    ) -> WarmupCosineSchedule:
        """Peak ``initial_lr × global_batch / 256`` when ``scale`` (else ``initial_lr``); warmup epochs as steps."""
        base = scaled_lr(initial_lr, global_batch_size) if scale else initial_lr
        return cls(base, min(round(warmup_epochs * steps_per_epoch), total_steps), total_steps)

    def __call__(self, step: int) -> float:
        """LR of 0-based optimizer step ``step``."""
        return warmup_cosine_lr(step, self.base_lr, self.warmup_steps, self.total_steps)
