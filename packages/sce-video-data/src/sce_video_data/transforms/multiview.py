"""Several crops of one clip or image: ``UniformCrop`` (SPEC 5.2), ``MultiCrop`` (SPEC 3.3), ``Compose``."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from sce_video_data.transforms.crops import RandomResizedCrop
from sce_video_data.transforms.resize import check_frames, crop

__all__ = ["Compose", "MultiCrop", "UniformCrop", "uniform_crop"]

FrameTransform = Callable[[torch.Tensor, torch.Generator | None], torch.Tensor]


def uniform_crop(x: torch.Tensor, size: int, spatial_idx: int) -> torch.Tensor:
    """Square crop at the start, centre or end of the long side (pytorchvideo's ``uniform_crop``).

    Along the short side the crop is centred (offset ``ceil((short - size) / 2)``). Index 0 is left (or top for
    portrait frames), 1 the centre, 2 right (or bottom).

    Args:
        x: Clip ``(T, H, W, C)`` or image ``(H, W, C)`` whose short side is at least ``size``.
        size: Side of the square crop.
        spatial_idx: 0, 1 or 2.

    Returns:
        ``(..., size, size, C)`` contiguous frames.
    """
    check_frames(x)
    if spatial_idx not in (0, 1, 2):
        raise ValueError(f"spatial_idx must be 0, 1 or 2, got {spatial_idx}")
    height, width = x.shape[-3], x.shape[-2]
    if size > min(height, width):
        raise ValueError(f"uniform crop size {size} is larger than the short side of {height}x{width} frames")
    top, left = math.ceil((height - size) / 2), math.ceil((width - size) / 2)
    if height > width:
        top = (0, top, height - size)[spatial_idx]
    else:
        left = (0, left, width - size)[spatial_idx]
    return crop(x, top, left, size, size).contiguous()


@dataclass(frozen=True)
class UniformCrop:
    """One of the three evaluation crops along the long side (SPEC 5.2: size 256 after ``ShortSideScale(256)``).

    Attributes:
        size: Side of the square crop.
        spatial_idx: 0 (left/top), 1 (centre) or 2 (right/bottom).
    """

    size: int = 256
    spatial_idx: int = 1

    def __post_init__(self) -> None:
        if self.spatial_idx not in (0, 1, 2):
            raise ValueError(f"UniformCrop.spatial_idx must be 0, 1 or 2, got {self.spatial_idx}")

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Crop a clip or an image (``generator`` is unused)."""
        return uniform_crop(x, self.size, self.spatial_idx)

    @staticmethod
    def all_views(x: torch.Tensor, size: int = 256) -> torch.Tensor:
        """The three crops stacked: ``(3, ...)``, in spatial index order."""
        return torch.stack([uniform_crop(x, size, i) for i in range(3)])


@dataclass(frozen=True)
class MultiCrop:
    """Several independent views of one image or clip: crops (e.g. 2 global + 4 local, SPEC 3.3) or test views.

    Attributes:
        crops: One loader transform per output view, applied in order.
    """

    crops: tuple[FrameTransform | RandomResizedCrop, ...]

    def __post_init__(self) -> None:
        if not self.crops:
            raise ValueError("MultiCrop.crops must hold at least one crop")

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Return the list of crops (sizes may differ between crops)."""
        return [c(x, generator) for c in self.crops]


@dataclass(frozen=True)
class Compose:
    """Apply per-clip transforms in order, passing the same generator to each.

    Attributes:
        transforms: Callables ``(frames, generator) -> frames``.
    """

    transforms: Sequence[FrameTransform]

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Run every transform."""
        for transform in self.transforms:
            x = transform(x, generator)
        return x
