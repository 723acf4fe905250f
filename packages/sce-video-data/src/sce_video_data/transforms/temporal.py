"""Temporal transforms of clips ``(T, H, W, C)``: ``RandomTemporalDifference`` (SPEC 4.2) and uniform subsampling."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sce_video_data.transforms.params import check_probability
from sce_video_data.transforms.resize import check_frames

__all__ = ["RandomTemporalDifference", "UniformTemporalSubsample", "grayscale_difference"]

_GRAY_WEIGHTS = (0.2989, 0.587, 0.114)


def _gray(x: torch.Tensor) -> torch.Tensor:
    if x.shape[-1] == 1:
        return x[..., 0].float()
    weights = torch.tensor(_GRAY_WEIGHTS, dtype=torch.float32, device=x.device)
    return x.float() @ weights


def grayscale_difference(frames: torch.Tensor, next_frames: torch.Tensor) -> torch.Tensor:
    """``(gray(f_t) - gray(f_{t+1}) + 255) / 2`` replicated on three channels (SPEC 4.2).

    Use this form when the loader reads each sampled frame together with the frame that follows it (the
    authors' frame decoder); :class:`RandomTemporalDifference` differences consecutive frames of a clip.

    Args:
        frames: Frames ``f_t``, ``(T, H, W, C)`` with values in [0, 255] (uint8 or float).
        next_frames: Frames ``f_{t+1}``, same shape.

    Returns:
        ``(T, H, W, 3)``: uint8 (rounded) for uint8 input, float32 otherwise.
    """
    check_frames(frames)
    if frames.shape != next_frames.shape:
        raise ValueError(f"frames and next_frames differ in shape: {tuple(frames.shape)} vs {tuple(next_frames.shape)}")
    diff = (_gray(frames) - _gray(next_frames) + 255.0) / 2.0
    if frames.dtype == torch.uint8:  # round one channel, then replicate (3x less float work, same values)
        diff = diff.round_().clamp_(0, 255).to(torch.uint8)
    return diff.unsqueeze(-1).expand(*diff.shape, 3).contiguous()


@dataclass(frozen=True)
class RandomTemporalDifference:
    """With probability ``p`` per clip, replace each frame by its grayscale difference with the next frame.

    Frame ``t`` becomes ``(gray(f_t) - gray(f_{t+1}) + 255) / 2`` (``use_grayscale=True, absolute=False`` in the
    authors' code) replicated on three channels, and the last frame reuses the last difference. The authors apply
    it to all native-fps frames of the clip before temporal subsampling (SPEC 4.2).

    Attributes:
        p: Probability per clip.
    """

    p: float = 0.2

    def __post_init__(self) -> None:
        check_probability("RandomTemporalDifference.p", self.p)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Transform a clip ``(T, H, W, C)`` with ``T >= 2`` (unchanged with probability ``1 - p``)."""
        check_frames(x)
        if x.ndim != 4 or x.shape[0] < 2:
            raise ValueError(f"RandomTemporalDifference needs a clip (T, H, W, C) with T >= 2, got {tuple(x.shape)}")
        device = "cpu" if generator is None else generator.device
        if float(torch.rand(1, generator=generator, device=device).item()) >= self.p:
            return x
        diff = grayscale_difference(x[:-1], x[1:])
        return torch.cat([diff, diff[-1:]], dim=0)


@dataclass(frozen=True)
class UniformTemporalSubsample:
    """Keep ``num_samples`` frames at indices ``linspace(0, T - 1, num_samples)`` truncated to int (SPEC 4.2).

    Attributes:
        num_samples: Number of frames kept.
    """

    num_samples: int = 8

    def __post_init__(self) -> None:
        if self.num_samples < 1:
            raise ValueError(f"UniformTemporalSubsample.num_samples must be positive, got {self.num_samples}")

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Subsample a clip ``(T, H, W, C)`` along its first dimension."""
        check_frames(x)
        if x.ndim != 4:
            raise ValueError(f"UniformTemporalSubsample needs a clip (T, H, W, C), got {tuple(x.shape)}")
        idx = torch.linspace(0, x.shape[0] - 1, self.num_samples).long()
        return x.index_select(0, idx.to(x.device))
