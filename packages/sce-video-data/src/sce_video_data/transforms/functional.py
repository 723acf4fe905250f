"""Batched colour and flip kernels with one parameter per sample.

Inputs are float tensors in [0, 1] of shape ``(B, C, H, W)`` (images) or ``(B, C, T, H, W)`` (clips), on any device.
Each per-sample parameter is a tensor of shape ``(B,)`` and applies to every frame of its clip. With the same
parameter, every kernel equals the matching ``torchvision.transforms.v2.functional`` operation applied to each sample
and each frame separately. In particular the contrast reference (the mean of the grayscale image) is computed **per
frame**, as torchvision does for a ``(T, C, H, W)`` video or for frames given one by one.
"""

from __future__ import annotations

import torch

__all__ = [
    "adjust_brightness",
    "adjust_contrast",
    "adjust_saturation",
    "check_batch",
    "hflip",
    "per_sample",
    "rgb_to_grayscale",
    "solarize",
]

_GRAY_WEIGHTS = (0.2989, 0.587, 0.114)


def check_batch(x: torch.Tensor, channels: int | None = 3) -> None:
    """Raise ``ValueError`` unless ``x`` is a floating batch ``(B, C, H, W)`` or ``(B, C, T, H, W)``.

    Args:
        x: Batch to check.
        channels: Required number of channels (``None``: any).
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"expected a torch.Tensor batch, got {type(x).__name__}")
    if x.ndim not in (4, 5):
        raise ValueError(f"expected a batch of shape (B, C, H, W) or (B, C, T, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"expected a floating batch with values in [0, 1], got dtype {x.dtype}; divide uint8 by 255")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"expected {channels} channels in dimension 1, got shape {tuple(x.shape)}")


def per_sample(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """View a ``(B,)`` parameter so that it broadcasts over the other dimensions of ``x``.

    Args:
        values: One value per sample.
        x: The batch the values apply to.

    Returns:
        ``values`` on ``x``'s device and dtype, shaped ``(B, 1, ..., 1)``.
    """
    if values.shape != (x.shape[0],):
        raise ValueError(f"expected one parameter per sample, shape ({x.shape[0]},), got {tuple(values.shape)}")
    return values.to(device=x.device, dtype=x.dtype).view((-1,) + (1,) * (x.ndim - 1))


def _blend(x: torch.Tensor, other: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    r = per_sample(ratio, x)
    return (x * r + other * (1.0 - r)).clamp_(0.0, 1.0)


def rgb_to_grayscale(x: torch.Tensor, num_output_channels: int = 1) -> torch.Tensor:
    """Luma with torchvision's weights (0.2989, 0.587, 0.114).

    Args:
        x: RGB batch ``(B, 3, ...)``.
        num_output_channels: 1, or 3 to replicate the luma on three channels.

    Returns:
        ``(B, num_output_channels, ...)``.
    """
    if num_output_channels not in (1, 3):
        raise ValueError(f"num_output_channels must be 1 or 3, got {num_output_channels}")
    check_batch(x)
    r, g, b = x.unbind(dim=1)
    gray = r.mul(_GRAY_WEIGHTS[0]).add_(g, alpha=_GRAY_WEIGHTS[1]).add_(b, alpha=_GRAY_WEIGHTS[2]).unsqueeze(1)
    if num_output_channels == 3:
        gray = gray.expand(x.shape).contiguous()
    return gray


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Multiply by a per-sample factor and clamp to [0, 1]."""
    check_batch(x, channels=None)
    return (x * per_sample(factor, x)).clamp_(0.0, 1.0)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend each sample with its grayscale version: ``factor * x + (1 - factor) * gray``."""
    return _blend(x, rgb_to_grayscale(x), factor)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend each frame with the mean of its grayscale version (one mean per frame)."""
    gray = rgb_to_grayscale(x)
    dims = (1, 2, 3) if x.ndim == 4 else (1, 3, 4)
    mean = gray.mean(dim=dims, keepdim=True)
    return _blend(x, mean, factor)


def solarize(x: torch.Tensor, threshold: float) -> torch.Tensor:
    """Invert every value at or above ``threshold`` (``1 - x``)."""
    check_batch(x, channels=None)
    return torch.where(x >= threshold, 1.0 - x, x)


def hflip(x: torch.Tensor) -> torch.Tensor:
    """Flip the width (last) dimension."""
    return x.flip(-1)
