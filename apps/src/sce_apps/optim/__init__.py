"""Optimisers and schedules of the SCE recipes (SPEC 2.7)."""

from sce_apps.optim.lars import LARS
from sce_apps.optim.schedules import WarmupCosineSchedule, scaled_lr, warmup_cosine_lr

__all__ = ["LARS", "WarmupCosineSchedule", "scaled_lr", "warmup_cosine_lr"]
