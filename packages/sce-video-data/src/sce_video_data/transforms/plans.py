"""Loader transforms drawn in advance: every random choice made before any frame is decoded.

:func:`plan_clip` walks a loader transform (the crops, scales and temporal difference of
:mod:`~sce_video_data.transforms.crops`, :mod:`~sce_video_data.transforms.multiview` and
:mod:`~sce_video_data.transforms.temporal`) for frames of a known size and returns what it would do: whether the clip
becomes a temporal difference, and for each output view a :class:`SpatialPlan` of fixed crops and resizes. The
random numbers are drawn from ``generator`` in exactly the order the transform itself draws them, so
``plan.apply(x)`` equals ``transform(x, generator)`` for identically seeded generators (the tests check it), and a
loader can decode only the frames the plan needs and write each view straight into its batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from sce_video_data.transforms.crops import (
    CenterCrop,
    RandomCrop,
    RandomResizedCrop,
    RandomShortSideScale,
    ShortSideScale,
    as_size,
)
from sce_video_data.transforms.multiview import Compose, MultiCrop, UniformCrop
from sce_video_data.transforms.resize import crop, resize, short_side_size
from sce_video_data.transforms.temporal import RandomTemporalDifference

__all__ = ["CropOp", "ResizeOp", "SpatialPlan", "is_plannable", "plan_clip", "plan_spatial"]


@dataclass(frozen=True)
class CropOp:
    """Cut the box ``(top, left, height, width)`` out of every frame."""

    top: int
    left: int
    height: int
    width: int


@dataclass(frozen=True)
class ResizeOp:
    """Bilinear resize of every frame to ``(height, width)``."""

    height: int
    width: int
    antialias: bool = False


@dataclass(frozen=True)
class SpatialPlan:
    """Fixed crops and resizes, in order, turning ``in_size`` frames into ``size`` frames.

    Attributes:
        ops: The operations, in order.
        in_size: ``(height, width)`` of the input frames.
        size: ``(height, width)`` of the output frames.
    """

    ops: tuple[CropOp | ResizeOp, ...]
    in_size: tuple[int, int]
    size: tuple[int, int]

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Run the operations on a clip ``(T, H, W, C)`` or an image ``(H, W, C)`` of ``in_size`` frames."""
        if tuple(x.shape[-3:-1]) != self.in_size:
            raise ValueError(f"plan made for {self.in_size} frames applied to frames of shape {tuple(x.shape)}")
        for op in self.ops:
            if isinstance(op, CropOp):
                x = crop(x, op.top, op.left, op.height, op.width)
            else:
                x = resize(x, (op.height, op.width), op.antialias)
        return x

    @property
    def leading_crop(self) -> CropOp | None:
        """The first operation when it is a crop (a loader can cut the box before gathering frames)."""
        return self.ops[0] if self.ops and isinstance(self.ops[0], CropOp) else None


def _randint(high: int, generator: torch.Generator | None) -> int:
    device = "cpu" if generator is None else generator.device
    return int(torch.randint(high, (1,), generator=generator, device=device).item())


def _fit(name: str, size: int | tuple[int, int], height: int, width: int) -> tuple[int, int]:
    h, w = as_size(size)
    if h > height or w > width:
        raise ValueError(f"{name} size {h}x{w} is larger than the frames {height}x{width}")
    return h, w


def _uniform_offsets(size: int, index: int, height: int, width: int) -> tuple[int, int]:
    if size > min(height, width):
        raise ValueError(f"uniform crop size {size} is larger than the short side of {height}x{width} frames")
    top, left = math.ceil((height - size) / 2), math.ceil((width - size) / 2)
    if height > width:
        return (0, top, height - size)[index], left
    return top, (0, left, width - size)[index]


def _step(step: Any, height: int, width: int, generator: torch.Generator | None) -> list[CropOp | ResizeOp]:
    """The fixed operations of one spatial transform for ``height x width`` frames (draws as the transform does)."""
    if isinstance(step, RandomResizedCrop):
        top, left, h, w = step.sample_box(height, width, generator)
        return [CropOp(top, left, h, w), ResizeOp(*as_size(step.size), step.antialias)]
    if isinstance(step, ShortSideScale):
        return [ResizeOp(*short_side_size(height, width, step.size), step.antialias)]
    if isinstance(step, RandomShortSideScale):
        side = step.min_size + _randint(step.max_size - step.min_size + 1, generator)
        return [ResizeOp(*short_side_size(height, width, side), step.antialias)]
    if isinstance(step, RandomCrop):
        h, w = _fit("RandomCrop", step.size, height, width)
        top = _randint(height - h + 1, generator)
        return [CropOp(top, _randint(width - w + 1, generator), h, w)]
    if isinstance(step, CenterCrop):
        h, w = _fit("CenterCrop", step.size, height, width)
        return [CropOp(int(round((height - h) / 2.0)), int(round((width - w) / 2.0)), h, w)]
    if isinstance(step, UniformCrop):
        return [CropOp(*_uniform_offsets(step.size, step.spatial_idx, height, width), step.size, step.size)]
    raise TypeError(f"{type(step).__name__} cannot be planned before decoding")


def _size_after(ops: Sequence[CropOp | ResizeOp], size: tuple[int, int]) -> tuple[int, int]:
    return (ops[-1].height, ops[-1].width) if ops else size


def plan_spatial(transform: Any, height: int, width: int, generator: torch.Generator | None) -> SpatialPlan:
    """The :class:`SpatialPlan` of a spatial transform (a crop, a scale, or a :class:`Compose` of them)."""
    steps = transform.transforms if isinstance(transform, Compose) else () if transform is None else (transform,)
    ops: list[CropOp | ResizeOp] = []
    size = (height, width)
    for step in steps:
        step_ops = _step(step, *size, generator)
        ops.extend(step_ops)
        size = _size_after(step_ops, size)
    return SpatialPlan(tuple(ops), (height, width), size)


def _draw_difference(step: RandomTemporalDifference, generator: torch.Generator | None) -> bool:
    device = "cpu" if generator is None else generator.device
    return float(torch.rand(1, generator=generator, device=device).item()) < step.p


def plan_clip(
    transform: Any, height: int, width: int, generator: torch.Generator | None
) -> tuple[bool, tuple[SpatialPlan, ...]]:
    """``(temporal difference?, one spatial plan per output view)`` of a loader transform for one clip.

    ``transform`` is None (the frames as they are), a spatial transform, a :class:`Compose` whose steps may include
    a :class:`RandomTemporalDifference` (its draw is made where it stands among the steps; the difference is taken
    on the full frames before the spatial steps), or a :class:`MultiCrop` of spatial transforms (several views).

    Raises:
        TypeError: A step that cannot be planned (an arbitrary callable).
    """
    if isinstance(transform, MultiCrop):
        return False, tuple(plan_spatial(view, height, width, generator) for view in transform.crops)
    if not isinstance(transform, Compose):
        return False, (plan_spatial(transform, height, width, generator),)
    difference = False
    ops: list[CropOp | ResizeOp] = []
    size = (height, width)
    for step in transform.transforms:
        if isinstance(step, RandomTemporalDifference):
            if ops:
                raise TypeError("RandomTemporalDifference must come before the spatial steps to be planned")
            difference = _draw_difference(step, generator) or difference
            continue
        step_ops = _step(step, *size, generator)
        ops.extend(step_ops)
        size = _size_after(step_ops, size)
    return difference, (SpatialPlan(tuple(ops), (height, width), size),)


def is_plannable(transform: Any) -> bool:
    """Whether :func:`plan_clip` accepts ``transform`` (checked on a dummy frame size without drawing anything)."""
    try:
        plan_clip(transform, 4096, 4096, torch.Generator().manual_seed(0))
    except TypeError:
        return False
    except ValueError:
        return True  # plannable, but not for that frame size
    return True
