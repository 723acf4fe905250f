"""Resizing of channels-last frames: clips ``(T, H, W, C)`` and images ``(H, W, C)``.

Frames are resized with ``torch.nn.functional.interpolate`` (bilinear, ``align_corners=False``), as the video crops of
SPEC 4.2 and 5.2 do. On CPU uint8 frames are resized by torch's uint8 kernel directly on the channels-last memory (no
copy, no float conversion); elsewhere they go through float32 and are rounded back. Both give the same values to
within one grey level.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812

__all__ = ["check_frames", "crop", "resize", "short_side_size"]


def check_frames(x: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``x`` is a clip ``(T, H, W, C)`` or an image ``(H, W, C)`` with 1 or 3 channels.

    Args:
        x: Frames to check.
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim not in (3, 4) or x.shape[-1] not in (1, 3):
        raise ValueError(f"expected a clip (T, H, W, C) or an image (H, W, C) with C in (1, 3), got {tuple(x.shape)}")
    if min(x.shape[-3], x.shape[-2]) < 1:
        raise ValueError(f"expected non-empty frames, got shape {tuple(x.shape)}")


def crop(x: torch.Tensor, top: int, left: int, height: int, width: int) -> torch.Tensor:
    """Cut the same box out of every frame (a view, no copy).

    Args:
        x: Clip ``(T, H, W, C)`` or image ``(H, W, C)``.
        top: First row.
        left: First column.
        height: Box height.
        width: Box width.

    Returns:
        Frames ``(..., height, width, C)``.
    """
    h, w = x.shape[-3], x.shape[-2]
    if top < 0 or left < 0 or height < 1 or width < 1 or top + height > h or left + width > w:
        raise ValueError(f"crop box (top={top}, left={left}, height={height}, width={width}) is outside {h}x{w} frames")
    return x[..., top : top + height, left : left + width, :]


def resize(x: torch.Tensor, size: tuple[int, int], antialias: bool = False) -> torch.Tensor:
    """Bilinear resize of channels-last frames.

    Args:
        x: Clip ``(T, H, W, C)`` or image ``(H, W, C)``, any dtype.
        size: Output ``(height, width)``.
        antialias: Low-pass filter when downscaling (torchvision's ``antialias=True``); the video crops of the
            authors use ``False``.

    Returns:
        Resized frames, same layout and dtype.
    """
    check_frames(x)
    if tuple(x.shape[-3:-1]) == tuple(size):
        return x
    frames = x if x.ndim == 4 else x.unsqueeze(0)
    nchw = frames.permute(0, 3, 1, 2)  # channels-last memory, no copy
    if x.dtype == torch.uint8 and x.device.type == "cpu":
        out = F.interpolate(nchw, size=size, mode="bilinear", align_corners=False, antialias=antialias)
    else:
        out = F.interpolate(nchw.float(), size=size, mode="bilinear", align_corners=False, antialias=antialias)
        if not x.is_floating_point():
            info = torch.iinfo(x.dtype)
            out = out.round_().clamp_(info.min, info.max)
        out = out.to(x.dtype)
    out = out.permute(0, 2, 3, 1).contiguous()
    return out if x.ndim == 4 else out[0]


def short_side_size(height: int, width: int, size: int) -> tuple[int, int]:
    """Output size that scales the short side to ``size`` and keeps the aspect ratio (long side floored).

    Args:
        height: Input height.
        width: Input width.
        size: Target short side.

    Returns:
        ``(new_height, new_width)``.
    """
    if size < 1:
        raise ValueError(f"short side size must be positive, got {size}")
    if width < height:
        return int(height / width * size), size
    return size, int(width / height * size)
