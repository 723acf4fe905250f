"""Video decoding with PyAV: probing, exact frame reads with keyframe seeking, full decodes for shard building.

Frame index of a decoded frame = ``round((pts - start_pts) * time_base * fps)`` (constant frame rate); times are
``(pts - start_pts) * time_base`` seconds. Variable-frame-rate videos are read through ``timestamps``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch

__all__ = ["VideoFile", "VideoInfo", "iter_frames", "open_video", "probe", "read_frames", "resized_size"]


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` reports about the first video stream of a file.

    Attributes:
        fps: Average frame rate (frames per second).
        num_frames: Number of frames (container metadata, or packets counted when the container has none).
        duration: ``num_frames / fps`` in seconds (the authors' convention, SPEC 6.1).
        width: Frame width in pixels.
        height: Frame height in pixels.
    """

    fps: float
    num_frames: int
    duration: float
    width: int
    height: int


def open_video(path: str | Path) -> tuple[Any, Any]:
    """Open ``path`` and return ``(container, first video stream)``.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file cannot be opened as a video or has no video stream.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video file not found: {path}")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: cannot open as a video ({err})") from err
    if not container.streams.video:
        container.close()
        raise ValueError(f"{path}: no video stream")
    return container, container.streams.video[0]


def _stream_fps(stream: Any, path: str | Path) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate or float(rate) <= 0:
        raise ValueError(f"{path}: the video stream has no frame rate")
    return float(rate)


def _start_pts(stream: Any) -> int:
    return int(stream.start_time) if stream.start_time is not None else 0


def _info_from_stream(container: Any, stream: Any, path: str | Path) -> VideoInfo:
    fps = _stream_fps(stream, path)
    num_frames = int(stream.frames or 0)
    if num_frames <= 0:
        num_frames = sum(1 for p in container.demux(stream) if p.size > 0)
        container.seek(_start_pts(stream), stream=stream, backward=True, any_frame=False)
    if num_frames <= 0:
        raise ValueError(f"{path}: the video stream has no frames")
    return VideoInfo(fps, num_frames, num_frames / fps, int(stream.width), int(stream.height))


def probe(path: str | Path) -> VideoInfo:
    """Frame rate, frame count, duration and size of the first video stream of ``path``.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file is not a readable video.
    """
    container, stream = open_video(path)
    try:
        return _info_from_stream(container, stream, path)
    finally:
        container.close()


def resized_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    """``(width, height)`` after resizing so that the short side is ``short_side`` (``None`` or 0: unchanged)."""
    if not short_side:
        return width, height
    if width <= height:
        return short_side, max(1, round(height * short_side / width))
    return max(1, round(width * short_side / height)), short_side


def _to_array(frame: Any, size: tuple[int, int] | None) -> np.ndarray:
    if size is None or size == (frame.width, frame.height):
        return frame.to_ndarray(format="rgb24")
    return frame.to_ndarray(format="rgb24", width=size[0], height=size[1], interpolation="BILINEAR")


def _timed_frames(container: Any, stream: Any, seek_time: float | None) -> Iterator[tuple[float, Any]]:
    """Decode from the keyframe at or before ``seek_time``; yield ``(time_s, frame)``.

    ``seek_time`` None decodes from the current position (only for a freshly opened container). Any other value
    seeks, even to the start: the seek also flushes the decoder, which an earlier read may have left mid-stream or
    drained at the end of the file (a drained decoder refuses new packets with an end-of-file error).
    """
    start = _start_pts(stream)
    tb = float(stream.time_base)
    if seek_time is not None:
        target = start + max(0, math.floor(seek_time / tb))
        container.seek(target, stream=stream, backward=True, any_frame=False)
    for frame in container.decode(stream):
        pts = frame.pts if frame.pts is not None else frame.dts
        if pts is None:
            raise ValueError("frame without timestamp; cannot index frames")
        yield (pts - start) * tb, frame


def _collect(
    container: Any, stream: Any, keys: Sequence[float], key_of: Any, seek_time: float, size: tuple[int, int] | None
) -> dict[float, np.ndarray] | None:
    """Decode from ``seek_time`` until every key in ``keys`` (sorted) is resolved; None when the seek overshot."""
    wanted = sorted(set(keys))
    found: dict[float, np.ndarray] = {}
    pending = 0
    previous: Any = None
    for time_s, frame in _timed_frames(container, stream, seek_time):
        key = key_of(time_s)
        if previous is None and key > wanted[0] and seek_time > 0:
            return None
        while pending < len(wanted) and wanted[pending] < key:
            found[wanted[pending]] = _to_array(frame if previous is None else previous, size)
            pending += 1
        while pending < len(wanted) and wanted[pending] == key:
            found[wanted[pending]] = _to_array(frame, size)
            pending += 1
        if pending == len(wanted):
            return found
        previous = frame
    if previous is None:
        return None
    last = _to_array(previous, size)
    for key in wanted[pending:]:
        found[key] = last
    return found


class VideoFile:
    """An open video file: :attr:`info` plus exact frame reads that seek to the keyframe before each request.

    Use as a context manager (or call :meth:`close`). Reads assume a constant frame rate for ``frame_indices``
    (index = ``round(time * fps)``); :meth:`read_times` handles variable frame rates.
    """

    def __init__(self, path: str | Path, short_side: int | None = None) -> None:
        self.path = Path(path)
        self._container, self._stream = open_video(path)
        try:
            self.info = _info_from_stream(self._container, self._stream, path)
        except (ValueError, av.error.FFmpegError) as err:
            self._container.close()
            raise ValueError(f"{path}: cannot read the video stream ({err})") from err
        self._size = resized_size(self.info.width, self.info.height, short_side) if short_side else None

    def __enter__(self) -> VideoFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self._container.close()

    def _read(self, keys: Sequence[float], key_of: Any, seek_time: float) -> torch.Tensor:
        container, stream = self._container, self._stream
        try:
            found = _collect(container, stream, keys, key_of, seek_time, self._size)
            if found is None:  # the seek landed after the first wanted frame: decode from the start instead
                found = _collect(container, stream, keys, key_of, 0.0, self._size)
        except av.error.FFmpegError as err:
            raise ValueError(f"{self.path}: decoding failed ({err})") from err
        if found is None:
            raise ValueError(f"{self.path}: no frame could be decoded")
        return torch.from_numpy(np.stack([found[k] for k in keys]))

    def read(self, frame_indices: Sequence[int]) -> torch.Tensor:
        """Frames ``frame_indices`` (any order, repeats allowed; past the end: last frame) as ``(T, H, W, 3)``."""
        keys: list[float] = [int(i) for i in frame_indices]
        if not keys or min(keys) < 0:
            raise ValueError(f"frame_indices: expected a non-empty list of indices >= 0, got {list(frame_indices)}")
        fps = self.info.fps
        return self._read(keys, lambda t: round(t * fps), min(keys) / fps)

    def read_times(self, timestamps: Sequence[float]) -> torch.Tensor:
        """Frames shown at ``timestamps`` (seconds from the first frame: the last frame with time <= t)."""
        times = [float(t) for t in timestamps]
        if not times or min(times) < 0:
            raise ValueError(f"timestamps: expected a non-empty list of times >= 0, got {list(timestamps)}")
        eps = 1e-6
        return self._read([t + eps for t in times], lambda t: t, min(times))


def read_frames(
    path: str | Path,
    frame_indices: Sequence[int] | None = None,
    *,
    timestamps: Sequence[float] | None = None,
    short_side: int | None = None,
) -> torch.Tensor:
    """Decode the given frames of ``path``, seeking to the keyframe before the first one needed.

    Only the frames from that keyframe up to the last requested frame are decoded. Indices may repeat and come in
    any order; the output follows the request order.

    Args:
        path: Video file.
        frame_indices: Frame indices (constant frame rate: index = ``round(time * fps)``); indices past the end give
            the last frame.
        timestamps: Alternatively, times in seconds from the first frame; each gives the frame shown at that time
            (the last frame whose timestamp is <= t), which handles variable frame rates.
        short_side: Resize (bilinear, in FFmpeg) so that the short side has this length; None keeps the size.

    Returns:
        uint8 tensor ``(T, H, W, 3)``, RGB.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: Neither or both of ``frame_indices`` / ``timestamps`` given, negative values, or an unreadable file.
    """
    if (frame_indices is None) == (timestamps is None):
        raise ValueError("read_frames: pass exactly one of frame_indices or timestamps")
    with VideoFile(path, short_side) as video:
        return video.read(frame_indices) if frame_indices is not None else video.read_times(timestamps or [])


def iter_frames(
    path: str | Path, short_side: int | None = None, threads: bool = True
) -> Iterator[tuple[float, np.ndarray]]:
    """Decode every frame of ``path`` in presentation order, resized to ``short_side``; yield ``(time_s, HWC uint8)``.

    Raises:
        ValueError: The file is not a readable video (raised lazily, while iterating).
    """
    container, stream = open_video(path)
    try:
        if threads:
            stream.thread_type = "AUTO"
        size = resized_size(stream.width, stream.height, short_side) if short_side else None
        for time_s, frame in _timed_frames(container, stream, None):
            yield time_s, _to_array(frame, size)
    except av.error.FFmpegError as err:
        raise ValueError(f"{path}: decoding failed ({err})") from err
    finally:
        container.close()
