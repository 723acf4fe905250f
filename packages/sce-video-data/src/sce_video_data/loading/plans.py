"""Sample plans: every random choice of a sample, drawn before anything is decoded.

A :class:`SamplePlan` names the stored frames each clip keeps (clip starts drawn, SPEC 4.2 / 5.2), whether each
clip is a temporal difference and with which next frames (SPEC 4.2), and the fixed crops and resizes of each view
(:mod:`sce_video_data.transforms.plans`). A loader decodes exactly :meth:`SamplePlan.frames_needed`, once each.

Temporal difference, as the authors compute it: kept frame ``i`` of a clip whose frame range is ``[first, stop)``
becomes ``(gray(f_i) - gray(f_{i+1}) + 255) / 2`` of the stored frame ``i`` and the next stored frame; the last
frame of the range reuses the previous difference (``f_{stop-2}``, ``f_{stop-1}``); a range of one frame gives a
flat difference (128). On the stored frames, i.e. at the native frame rate unless the shards were built with ``--fps``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sce_video_data.loading.clip_sampling import (
    clip_frame_range,
    random_clip_starts,
    uniform_clip_starts,
    uniform_temporal_subsample,
)
from sce_video_data.transforms.plans import SpatialPlan, plan_clip

__all__ = ["ClipPlan", "ClipSampling", "FrameSource", "SamplePlan", "difference_pairs", "draw_plan"]


@dataclass(frozen=True)
class ClipSampling:
    """Which frames a sample holds.

    Attributes:
        frames: Frames per clip (``T``).
        clip_duration: Clip duration in seconds.
        num_clips: Clips per sample with ``"random"``.
        sampling: ``"random"`` (SPEC 4.2) or ``"uniform"`` (SPEC 5.2).
        clips_per_video: Clips per sample with ``"uniform"``.
    """

    frames: int = 8
    clip_duration: float = 2.56
    num_clips: int = 2
    sampling: str = "random"
    clips_per_video: int = 10

    def __post_init__(self) -> None:
        if self.sampling not in ("random", "uniform"):
            raise ValueError(f"sampling: expected 'random' or 'uniform', got {self.sampling!r}")
        for name in ("frames", "num_clips", "clips_per_video"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected >= 1, got {getattr(self, name)}")
        if self.clip_duration <= 0:
            raise ValueError(f"clip_duration: expected > 0, got {self.clip_duration}")

    @property
    def clips(self) -> int:
        """Clips per sample."""
        return self.clips_per_video if self.sampling == "uniform" else self.num_clips

    def starts(self, duration: float, generator: torch.Generator | None = None) -> list[float]:
        """Clip start times for a video of ``duration`` seconds (random ones drawn from ``generator``)."""
        if self.sampling == "uniform":
            return uniform_clip_starts(duration, self.clip_duration, self.clips_per_video)
        uniforms = torch.rand(self.num_clips, generator=generator).tolist()
        return random_clip_starts(duration, self.clip_duration, self.num_clips, uniforms)


@dataclass(frozen=True)
class FrameSource:
    """What a plan needs to know of an item: its frames' count, timing and size, and its label.

    Attributes:
        num_frames: Stored frames.
        fps: Frame rate of the index math.
        duration: Duration in seconds.
        height: Frame height.
        width: Frame width.
        label: Class label.
        times: Frame timestamps (variable frame rate), or None (frame ``i`` at ``i / fps``).
    """

    num_frames: int
    fps: float
    duration: float
    height: int
    width: int
    label: int
    times: np.ndarray | None = None


@dataclass(frozen=True)
class ClipPlan:
    """One clip: its kept frames, the next frames of a temporal difference, and its views.

    Attributes:
        frames: The ``T`` stored frames kept (for a difference: the first frame of each pair).
        next_frames: For a temporal difference, the second frame of each pair; None otherwise.
        views: One spatial plan per output view.
    """

    frames: tuple[int, ...]
    next_frames: tuple[int, ...] | None
    views: tuple[SpatialPlan, ...]


@dataclass(frozen=True)
class SamplePlan:
    """Everything a loader does for one sample.

    Attributes:
        index: Dataset row.
        label: Class label.
        height: Stored frame height.
        width: Stored frame width.
        clips: One plan per clip.
    """

    index: int
    label: int
    height: int
    width: int
    clips: tuple[ClipPlan, ...]

    def frames_needed(self) -> list[int]:
        """The distinct stored frames to decode, in increasing order."""
        needed = {f for clip in self.clips for f in clip.frames}
        needed.update(f for clip in self.clips if clip.next_frames is not None for f in clip.next_frames)
        return sorted(needed)


def difference_pairs(kept: Sequence[int], first: int, stop: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The ``(frames, next frames)`` pairs of a temporal difference of the kept frames of range ``[first, stop)``."""
    if stop - first < 2:
        return tuple(kept), tuple(kept)
    pairs = [(i, i + 1) if i + 1 < stop else (i - 1, i) for i in kept]
    return tuple(a for a, _ in pairs), tuple(b for _, b in pairs)


def draw_plan(
    index: int, source: FrameSource, sampling: ClipSampling, transform: Any, generator: torch.Generator | None
) -> SamplePlan:
    """Draw the plan of one sample: clip starts first, then each clip's difference flag and views, in clip order."""
    starts = sampling.starts(source.duration, generator)
    clips = []
    for start in starts:
        first, stop = clip_frame_range(start, sampling.clip_duration, source.num_frames, source.fps, source.times)
        kept = uniform_temporal_subsample(first, stop, sampling.frames)
        difference, views = plan_clip(transform, source.height, source.width, generator)
        if difference:
            frames, next_frames = difference_pairs(kept, first, stop)
            clips.append(ClipPlan(frames, next_frames, views))
        else:
            clips.append(ClipPlan(tuple(kept), None, views))
    return SamplePlan(index, source.label, source.height, source.width, tuple(clips))
