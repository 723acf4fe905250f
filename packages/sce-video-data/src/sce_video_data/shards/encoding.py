"""Turn one input video into an :class:`EncodedItem`: decode once, resize, optionally resample fps, JPEG-encode.

Functions here run inside the build's worker processes, so they are module-level (picklable) and take plain values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torchvision.io import encode_jpeg

from sce_video_data.codecs.video import iter_frames, probe, resized_size
from sce_video_data.shards.writer import EncodedItem

__all__ = ["EncodeParams", "encode_frames", "encode_video_item"]

_CHUNK = 32


@dataclass(frozen=True)
class EncodeParams:
    """How inputs are stored.

    Attributes:
        short_side: Short side of stored frames in pixels (0 keeps the source size).
        fps: Resample to this frame rate; None keeps every native frame.
        quality: JPEG quality (1-100).
    """

    short_side: int = 128
    fps: float | None = None
    quality: int = 90

    def __post_init__(self) -> None:
        if self.short_side < 0:
            raise ValueError(f"short_side: expected >= 0 (0 keeps the size), got {self.short_side}")
        if self.fps is not None and self.fps <= 0:
            raise ValueError(f"fps: expected > 0 or None (native), got {self.fps}")
        if not 1 <= self.quality <= 100:
            raise ValueError(f"quality: expected 1..100, got {self.quality}")


def encode_frames(frames: Iterable[np.ndarray], quality: int) -> list[bytes]:
    """JPEG-encode HWC uint8 RGB frames with torchvision's batched encoder, in chunks (bounded memory)."""
    out: list[bytes] = []
    chunk: list[torch.Tensor] = []
    for frame in frames:
        chunk.append(torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1))
        if len(chunk) == _CHUNK:
            out.extend(bytes(t.numpy()) for t in encode_jpeg(chunk, quality=quality))
            chunk = []
    if chunk:
        out.extend(bytes(t.numpy()) for t in encode_jpeg(chunk, quality=quality))
    return out


def _recorded(timed: Iterator[tuple[float, np.ndarray]], times: list[float]) -> Iterator[np.ndarray]:
    for time_s, frame in timed:
        times.append(time_s)
        yield frame


def _resampled(
    timed: Iterator[tuple[float, np.ndarray]], fps: float, duration: float, times: list[float]
) -> Iterator[np.ndarray]:
    """Frames shown at the times ``k / fps`` (``k / fps < duration``): the last frame whose time is <= ``k / fps``."""
    count = max(1, math.ceil(duration * fps - 1e-9))
    k, previous = 0, None
    for time_s, frame in timed:
        times.append(time_s)
        while previous is not None and k < count and k / fps + 1e-6 < time_s - times[0]:
            yield previous
            k += 1
        previous = frame
    while previous is not None and k < count:
        yield previous
        k += 1


def _native_duration(times: list[float], fps: float) -> tuple[float, bool]:
    """``(duration, cfr)``: CFR when every frame is within half a frame of ``i / fps``."""
    expected = np.arange(len(times)) / fps
    cfr = bool(np.all(np.abs(np.asarray(times) - expected) < 0.5 / fps))
    if cfr:
        return len(times) / fps, True
    step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0 / fps
    return float(times[-1] + step), False


def encode_video_item(path: str, params: EncodeParams) -> EncodedItem:
    """Decode the video at ``path`` once (streaming) and encode every stored frame as JPEG.

    With ``params.fps`` set, the stored frames are those shown at the times ``k / fps``.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file is not a video, has no frame, or is truncated (fewer frames decoded than declared).
    """
    info = probe(path)
    times: list[float] = []
    timed = iter_frames(path, params.short_side or None)
    if params.fps is None:
        jpegs = encode_frames(_recorded(timed, times), params.quality)
    else:
        jpegs = encode_frames(_resampled(timed, params.fps, info.duration, times), params.quality)
    if not times:
        raise ValueError(f"{path}: no frame could be decoded")
    if len(times) < info.num_frames - 1:
        raise ValueError(f"{path}: truncated, decoded {len(times)} of {info.num_frames} frames")
    times = [t - times[0] for t in times]
    duration, cfr = _native_duration(times, info.fps)
    fps = info.fps
    if params.fps is not None:
        fps, cfr = float(params.fps), True
        times, duration = [k / fps for k in range(len(jpegs))], len(jpegs) / fps
    width, height = resized_size(info.width, info.height, params.short_side or None)
    record = {"path": str(path), "source_frames": info.num_frames, "source_fps": info.fps}
    return EncodedItem(jpegs, times, fps, duration, cfr, width, height, record)
