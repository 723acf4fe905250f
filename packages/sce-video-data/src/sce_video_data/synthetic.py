"""Deterministic synthetic videos whose frames encode their own index (tests, demos, benchmarks).

Each frame is a 3 x 4 grid of large black or white blocks spelling the frame index in 12 bits (most significant bit
first), so the index survives H.264, resizing and JPEG. :func:`write_index_video` writes such an H.264 file;
:func:`write_index_shards` writes a shard folder of many such items directly (no video encoding: fast enough for
thousands of items).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from functools import cache
from pathlib import Path

import av
import numpy as np
import torch

from sce_video_data.shards.encoding import encode_frames
from sce_video_data.shards.finalize import finalize
from sce_video_data.shards.writer import EncodedItem, ShardWriter

__all__ = ["decode_frame_index", "index_frame", "write_index_shards", "write_index_video"]

_ROWS, _COLS = 3, 4
_LOW, _HIGH = 24, 232


def index_frame(index: int, width: int, height: int) -> np.ndarray:
    """An RGB ``(height, width, 3)`` uint8 frame spelling ``index`` (0 <= index < 4096) in 3 x 4 blocks."""
    if not 0 <= index < 2 ** (_ROWS * _COLS):
        raise ValueError(f"index: expected 0 <= index < 4096, got {index}")
    frame = np.empty((height, width, 3), dtype=np.uint8)
    bits = [(index >> (_ROWS * _COLS - 1 - b)) & 1 for b in range(_ROWS * _COLS)]
    for b, bit in enumerate(bits):
        r, c = divmod(b, _COLS)
        ys = slice(r * height // _ROWS, (r + 1) * height // _ROWS)
        xs = slice(c * width // _COLS, (c + 1) * width // _COLS)
        frame[ys, xs] = _HIGH if bit else _LOW
    return frame


def decode_frame_index(frame: torch.Tensor | np.ndarray) -> int:
    """Read back the index spelled by :func:`index_frame` from an ``(H, W, 3)`` frame (any size, lossy copies)."""
    array = np.asarray(frame, dtype=np.float32)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"frame: expected shape (H, W, 3), got {tuple(array.shape)}")
    height, width = array.shape[:2]
    index = 0
    for b in range(_ROWS * _COLS):
        r, c = divmod(b, _COLS)
        y = int((r + 0.5) * height / _ROWS)
        x = int((c + 0.5) * width / _COLS)
        patch = array[max(0, y - 2) : y + 3, max(0, x - 2) : x + 3]
        index = (index << 1) | int(patch.mean() > (_LOW + _HIGH) / 2)
    return index


def write_index_video(
    path: str | Path,
    num_frames: int,
    *,
    fps: int = 25,
    width: int = 128,
    height: int = 96,
    times: Sequence[float] | None = None,
    gop: int = 12,
) -> Path:
    """Write an H.264 mp4 whose frame ``i`` spells ``i`` (see :func:`index_frame`).

    Args:
        path: Output file (parents are created).
        num_frames: Number of frames.
        fps: Nominal frame rate.
        width: Frame width (even, libx264 needs even sizes).
        height: Frame height (even).
        times: Optional presentation times in seconds (strictly increasing) for a variable-frame-rate video.
        gop: Keyframe interval, so that seeking is exercised.

    Returns:
        The path written.
    """
    if width % 2 or height % 2:
        raise ValueError(f"width and height must be even for libx264, got {width}x{height}")
    if times is not None and len(times) != num_frames:
        raise ValueError(f"times: expected {num_frames} values, got {len(times)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    time_base = Fraction(1, 1000) if times is not None else Fraction(1, fps)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = time_base
        stream.codec_context.gop_size = gop
        stream.options = {"crf": "18", "preset": "ultrafast"}
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(index_frame(i, width, height), format="rgb24")
            frame.pts = round(times[i] * 1000) if times is not None else i
            frame.time_base = time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@cache
def _index_jpeg(index: int, width: int, height: int) -> bytes:
    return encode_frames([index_frame(index, width, height)], quality=90)[0]


def write_index_shards(
    out: str | Path,
    num_items: int,
    *,
    frames: int | Sequence[int] = 50,
    sizes: Sequence[tuple[int, int]] = ((32, 24),),
    fps: float = 25.0,
    num_classes: int = 2,
    items_per_shard: int | None = None,
) -> Path:
    """Write a shard folder of ``num_items`` constant-frame-rate items whose frame ``i`` spells ``i``.

    Item ``k`` has ``frames[k % len(frames)]`` frames of size ``sizes[k % len(sizes)]`` (``(width, height)``) and
    label ``k % num_classes``. Each distinct (index, size) frame is JPEG-encoded once and reused. The folder is written
    by :class:`ShardWriter` and ``finalize`` as a build writes it: the current format, with the CRC-32 of every frame
    and the sha256 of every shard and index file.

    Args:
        out: The shard folder to create.
        num_items: Number of items.
        frames: Frames per item, or a cycle of counts.
        sizes: Frame sizes ``(width, height)``, cycled over the items.
        fps: Frame rate of every item.
        num_classes: Number of classes (labels cycle over them).
        items_per_shard: Items per shard file (default: all in one).

    Returns:
        The shard folder.
    """
    counts = [frames] if isinstance(frames, int) else list(frames)
    if num_items < 1 or not counts or min(counts) < 1 or not sizes:
        raise ValueError("write_index_shards: expected num_items >= 1, frame counts >= 1 and at least one size")
    out = Path(out)
    per_shard = items_per_shard or num_items
    num_shards = -(-num_items // per_shard)
    for shard in range(num_shards):
        writer = ShardWriter(out, shard)
        for k in range(shard * per_shard, min((shard + 1) * per_shard, num_items)):
            n, (width, height) = counts[k % len(counts)], sizes[k % len(sizes)]
            jpegs = [_index_jpeg(i, width, height) for i in range(n)]
            times = [i / fps for i in range(n)]
            item = EncodedItem(jpegs, times, fps, n / fps, True, width, height, {"path": f"{k}"})
            writer.add(k, k % num_classes, item)
        writer.commit()
    classes = [f"class {c}" for c in range(num_classes)]
    inputs = [(f"{k}", k % num_classes) for k in range(num_items)]
    plan = {"num_shards": num_shards, "items_per_shard": per_shard}
    finalize(out, out, inputs, classes, {"layout": "synthetic"}, plan)
    return out
