"""Random and fixed crops of uint8 clips ``(T, H, W, C)`` and images ``(H, W, C)``, for the loader workers.

A clip gets one box for all its frames. Random draws use ``generator`` (``None``: torch's global generator, which the
DataLoader seeds per worker). SPEC 4.2 (pretraining), 5.1-5.3 (evaluation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from sce_video_data.transforms.resize import check_frames, crop, resize, short_side_size

__all__ = ["CenterCrop", "RandomCrop", "RandomResizedCrop", "RandomShortSideScale", "ShortSideScale", "as_size"]


def as_size(size: int | tuple[int, int]) -> tuple[int, int]:
    """Normalise an ``int`` or ``(height, width)`` size, raising ``ValueError`` unless it is positive."""
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"size must be a positive int or (height, width), got {size!r}")
    return int(pair[0]), int(pair[1])


def _device(generator: torch.Generator | None) -> torch.device:
    return torch.device("cpu") if generator is None else generator.device


def _randint(high: int, generator: torch.Generator | None) -> int:
    """Uniform integer in ``[0, high)``."""
    return int(torch.randint(high, (1,), generator=generator, device=_device(generator)).item())


def _rand(generator: torch.Generator | None) -> float:
    return float(torch.rand(1, generator=generator, device=_device(generator)).item())


@dataclass(frozen=True)
class RandomResizedCrop:
    """Crop a random box of random area and aspect ratio, then resize it (one box per clip).

    Up to ``tries`` boxes are drawn: area fraction uniform in ``scale``, aspect ratio log-uniform in ``ratio``; the
    first that fits is used, otherwise a central crop with the aspect ratio clamped to ``ratio`` (SPEC 4.2). The
    defaults are the video pretraining values of SPEC 4.2; images use ``scale=(0.2, 1.0)`` and ``antialias=True``
    (SPEC 3.3).

    Attributes:
        size: Output ``(height, width)`` or a square side.
        scale: Range of the box area as a fraction of the frame area.
        ratio: Range of the box aspect ratio (width / height).
        antialias: Antialiased resize (``False`` matches ``F.interpolate``'s default used for videos).
        tries: Number of random boxes tried before the central fallback.
    """

    size: int | tuple[int, int] = 224
    scale: tuple[float, float] = (0.2, 0.766)
    ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0)
    antialias: bool = False
    tries: int = 10

    def __post_init__(self) -> None:
        as_size(self.size)
        if not 0.0 < self.scale[0] <= self.scale[1] <= 1.0:
            raise ValueError(f"RandomResizedCrop.scale must satisfy 0 < min <= max <= 1, got {self.scale}")
        if not 0.0 < self.ratio[0] <= self.ratio[1]:
            raise ValueError(f"RandomResizedCrop.ratio must satisfy 0 < min <= max, got {self.ratio}")
        if self.tries < 0:
            raise ValueError(f"RandomResizedCrop.tries must be non-negative, got {self.tries}")

    def sample_box(
        self, height: int, width: int, generator: torch.Generator | None = None
    ) -> tuple[int, int, int, int]:
        """Draw a box ``(top, left, box_height, box_width)`` for ``height x width`` frames."""
        area = height * width
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        for _ in range(self.tries):
            target = area * (self.scale[0] + (self.scale[1] - self.scale[0]) * _rand(generator))
            aspect = math.exp(log_lo + (log_hi - log_lo) * _rand(generator))
            w = int(round(math.sqrt(target * aspect)))
            h = int(round(math.sqrt(target / aspect)))
            if 0 < w <= width and 0 < h <= height:
                return _randint(height - h + 1, generator), _randint(width - w + 1, generator), h, w
        return self.central_box(height, width)

    def central_box(self, height: int, width: int) -> tuple[int, int, int, int]:
        """The fallback box: the whole frame with its aspect ratio clamped to ``ratio``, centred."""
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            w, h = width, int(round(width / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            w, h = int(round(height * self.ratio[1])), height
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Crop and resize a clip ``(T, H, W, C)`` or an image ``(H, W, C)``."""
        check_frames(x)
        box = self.sample_box(x.shape[-3], x.shape[-2], generator)
        return resize(crop(x, *box), as_size(self.size), self.antialias)


@dataclass(frozen=True)
class ShortSideScale:
    """Resize so that the short side is ``size``, keeping the aspect ratio (SPEC 5.2 test views: 256).

    Attributes:
        size: Target short side.
        antialias: Antialiased resize (``False`` as the authors' video path; images use ``True``).
    """

    size: int = 256
    antialias: bool = False

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Resize a clip or an image (``generator`` is unused)."""
        check_frames(x)
        return resize(x, short_side_size(x.shape[-3], x.shape[-2], self.size), self.antialias)


@dataclass(frozen=True)
class RandomShortSideScale:
    """Resize the short side to a size drawn uniformly in ``[min_size, max_size]`` (SPEC 5.2, 5.3: 256-320).

    Attributes:
        min_size: Smallest short side.
        max_size: Largest short side (inclusive).
        antialias: Antialiased resize.
    """

    min_size: int = 256
    max_size: int = 320
    antialias: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.min_size <= self.max_size:
            raise ValueError(
                f"RandomShortSideScale needs 1 <= min_size <= max_size, got {self.min_size}, {self.max_size}"
            )

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Resize a clip or an image to a random short side."""
        check_frames(x)
        size = self.min_size + _randint(self.max_size - self.min_size + 1, generator)
        return resize(x, short_side_size(x.shape[-3], x.shape[-2], size), self.antialias)


def _fitting_box(name: str, size: int | tuple[int, int], x: torch.Tensor) -> tuple[int, int]:
    """Check the frames and return the ``(height, width)`` of a crop box that must fit inside them."""
    check_frames(x)
    h, w = as_size(size)
    if h > x.shape[-3] or w > x.shape[-2]:
        raise ValueError(f"{name} size {h}x{w} is larger than the frames {x.shape[-3]}x{x.shape[-2]}")
    return h, w


@dataclass(frozen=True)
class RandomCrop:
    """Crop a random ``size`` box, the same for all frames (SPEC 5.2: 224).

    Attributes:
        size: Output ``(height, width)`` or a square side; must fit in the frames.
    """

    size: int | tuple[int, int] = 224

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Crop a clip or an image."""
        h, w = _fitting_box("RandomCrop", self.size, x)
        top = _randint(x.shape[-3] - h + 1, generator)
        left = _randint(x.shape[-2] - w + 1, generator)
        return crop(x, top, left, h, w).contiguous()


@dataclass(frozen=True)
class CenterCrop:
    """Crop the central ``size`` box (torchvision's rounding; SPEC 5.1 image validation: 224).

    Attributes:
        size: Output ``(height, width)`` or a square side; must fit in the frames.
    """

    size: int | tuple[int, int] = 224

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Crop a clip or an image (``generator`` is unused)."""
        h, w = _fitting_box("CenterCrop", self.size, x)
        top = int(round((x.shape[-3] - h) / 2.0))
        left = int(round((x.shape[-2] - w) / 2.0))
        return crop(x, top, left, h, w).contiguous()
