"""Pure index math of clip sampling (SPEC 4.2 random multi-clip, SPEC 5.2 uniform multi-view).

Every function here is pure: it maps a video's frame count, frame rate (or frame timestamps) and clip start times to
frame indices, so the shard reader and the on-the-fly PyAV reader return exactly the same frames.

* A clip ``[s, s + d)`` of a constant-frame-rate video covers the frames ``range(ceil(fps*s), ceil(fps*(s + d)))``
  (SPEC 4.2 "Frame timing"); with per-frame timestamps it covers the frames whose time ``t`` satisfies ``s <= t < s+d``.
* ``T`` frames are then kept with ``linspace(0, n - 1, T)`` truncated to int (``UniformTemporalSubsample``).
* Short videos follow the authors: the start is clamped to 0 and the clip ends at the last frame; when the clip has
  fewer than ``T`` frames, the subsampling repeats frames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "clip_frame_indices",
    "clip_frame_range",
    "random_clip_starts",
    "uniform_clip_starts",
    "uniform_temporal_subsample",
]


def random_clip_starts(duration: float, clip_duration: float, num_clips: int, uniforms: Sequence[float]) -> list[float]:
    """Start times of ``num_clips`` independent random clips (SPEC 4.2 ``RandomMultiClipSampler``).

    Each start is uniform in ``[0, max(duration - clip_duration, 0)]``; the randomness comes in as ``uniforms``
    (numbers in ``[0, 1)``) so that this function stays pure.

    Args:
        duration: Video duration in seconds.
        clip_duration: Clip duration in seconds (2.56 in SPEC 4.2).
        num_clips: Number of clips.
        uniforms: ``num_clips`` numbers drawn uniformly in ``[0, 1)``.

    Returns:
        The ``num_clips`` start times in seconds.
    """
    if len(uniforms) != num_clips:
        raise ValueError(f"uniforms: expected {num_clips} numbers, got {len(uniforms)}")
    max_start = max(duration - clip_duration, 0.0)
    return [max_start * float(u) for u in uniforms]


def uniform_clip_starts(duration: float, clip_duration: float, clips_per_video: int) -> list[float]:
    """Evenly spaced evaluation clip starts (SPEC 5.2 ``ConstantClipsPerVideoSampler``).

    ``start_i = i * max(duration - clip_duration, 0) / max(clips_per_video - 1, 1)`` for ``i = 0 .. clips - 1``.

    Args:
        duration: Video duration in seconds.
        clip_duration: Clip duration in seconds.
        clips_per_video: Number of clips (10 in SPEC 5.2).

    Returns:
        The start times in seconds.
    """
    if clips_per_video < 1:
        raise ValueError(f"clips_per_video: expected >= 1, got {clips_per_video}")
    max_start = max(duration - clip_duration, 0.0)
    return [i * max_start / max(clips_per_video - 1, 1) for i in range(clips_per_video)]


def clip_frame_range(
    start: float, clip_duration: float, num_frames: int, fps: float, times: np.ndarray | None = None
) -> tuple[int, int]:
    """Frame index range ``[first, stop)`` covered by the clip ``[start, start + clip_duration)``.

    With ``times`` (per-frame timestamps in seconds, relative to the first frame) the range holds the frames whose
    time is in the clip (variable frame rate); otherwise ``range(ceil(fps*start), ceil(fps*(start + d)))``.
    The range is clamped to the video and never empty: a clip that starts past the last frame keeps the last frame.

    Args:
        start: Clip start in seconds.
        clip_duration: Clip duration in seconds.
        num_frames: Number of frames of the video (>= 1).
        fps: Frame rate (> 0); unused when ``times`` is given.
        times: Optional per-frame timestamps in seconds.

    Returns:
        ``(first, stop)`` with ``0 <= first < stop <= num_frames``.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames: expected >= 1, got {num_frames}")
    if times is not None:
        first = int(np.searchsorted(times, start, side="left"))
        stop = int(np.searchsorted(times, start + clip_duration, side="left"))
    else:
        if fps <= 0:
            raise ValueError(f"fps: expected > 0, got {fps}")
        first = math.ceil(fps * start)
        stop = math.ceil(fps * (start + clip_duration))
    first = min(max(first, 0), num_frames - 1)
    stop = min(max(stop, first + 1), num_frames)
    return first, stop


def uniform_temporal_subsample(first: int, stop: int, num_samples: int) -> list[int]:
    """``num_samples`` indices of ``range(first, stop)`` at ``linspace(0, n - 1, T)`` truncated to int.

    This is ``UniformTemporalSubsample`` (SPEC 4.2 step 2): when the range is shorter than ``num_samples`` frames
    are repeated.

    Args:
        first: First frame index of the clip.
        stop: One past the last frame index (``stop > first``).
        num_samples: Number of frames to keep.

    Returns:
        The ``num_samples`` frame indices, non-decreasing.
    """
    if stop <= first:
        raise ValueError(f"empty frame range [{first}, {stop})")
    if num_samples < 1:
        raise ValueError(f"num_samples: expected >= 1, got {num_samples}")
    n = stop - first
    if num_samples == 1:
        return [first]
    # numpy.linspace(0, n - 1, T) truncated, in plain Python (same float operations; no array per clip)
    step = (n - 1) / (num_samples - 1)
    positions = [int(i * step) for i in range(num_samples - 1)] + [n - 1]
    return [first + p for p in positions]


def clip_frame_indices(
    starts: Sequence[float],
    clip_duration: float,
    frames_per_clip: int,
    num_frames: int,
    fps: float,
    times: np.ndarray | None = None,
) -> list[list[int]]:
    """Frame indices of every clip: :func:`clip_frame_range` then :func:`uniform_temporal_subsample`.

    Args:
        starts: Clip start times in seconds.
        clip_duration: Clip duration in seconds.
        frames_per_clip: Frames kept per clip (``T``).
        num_frames: Number of frames of the video.
        fps: Frame rate of the video.
        times: Optional per-frame timestamps (variable frame rate).

    Returns:
        One list of ``frames_per_clip`` indices per start.
    """
    out = []
    for start in starts:
        first, stop = clip_frame_range(start, clip_duration, num_frames, fps, times)
        out.append(uniform_temporal_subsample(first, stop, frames_per_clip))
    return out
