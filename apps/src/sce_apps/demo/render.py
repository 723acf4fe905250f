"""Render a planned demo video to RGB frames and encode them as H.264 ``.mp4`` with PyAV (libx264, yuv420p)."""

from __future__ import annotations

import functools
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from sce_apps.demo.scenes import VideoPlan
from sce_apps.demo.sources import load_digits, load_photo
from sce_apps.engine.atomic import atomic_output

#: libx264 settings: constant quality, a keyframe every second (as camera footage), one thread per encoder so that
#: parallelism comes from the process pool and the bitstream cannot depend on thread timing.
CRF = 20
PRESET = "veryfast"
#: Without macroblock-tree rate control (on by default with adaptive quantisation) the bitstream is a function of the
#: frames alone: with both on, the same frames sometimes encoded differently depending on what the process had done
#: before (the first video of a process, or of a worker, differed from later encodes of the same frames).
X264_PARAMS = "mbtree=0"


@functools.cache
def _photo_image(class_index: int) -> Image.Image:
    return Image.fromarray(load_photo(class_index))


@functools.lru_cache(maxsize=64)
def _sprite_alpha(digit_index: int, side: int) -> np.ndarray:
    """Return the digit upscaled (bilinear) to ``side × side`` as a ``float32`` alpha mask in [0, 1]."""
    images, _ = load_digits()
    img = Image.fromarray(np.rint(images[digit_index] * 255.0).astype(np.uint8))
    alpha = np.asarray(img.resize((side, side), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
    alpha.setflags(write=False)
    return alpha


def lighting_lut(gains: tuple[float, float, float], gamma: float) -> list[int] | None:
    """Return the 768-entry RGB table of ``255 · min(1, gain · (v / 255) ** gamma)`` for Pillow, None if identity."""
    if gains == (1.0, 1.0, 1.0) and gamma == 1.0:
        return None
    v = (np.arange(256, dtype=np.float64) / 255.0) ** gamma
    return [int(x) for g in gains for x in np.clip(np.rint(255.0 * g * v), 0, 255)]


def render_frames(plan: VideoPlan) -> np.ndarray:
    """Render a video's frames: the camera window of the photograph, its lighting, then the digit sprite on top.

    Each window is resized to the frame size with Pillow's antialiased bilinear filter (sub-pixel window boxes).

    Args:
        plan: The video's plan.

    Returns:
        ``uint8`` array of shape ``(frames, height, width, 3)``.
    """
    height, width = plan.size
    photo = _photo_image(plan.class_index)
    alpha = _sprite_alpha(plan.foreground.digit_index, plan.foreground.side)[:, :, None]
    color = np.asarray(plan.foreground.color, dtype=np.float32)
    side = plan.foreground.side
    lut = lighting_lut(plan.gains, plan.gamma)
    out = np.empty((len(plan.windows), height, width, 3), dtype=np.uint8)
    for t, (top, left, bottom, right) in enumerate(plan.windows):
        frame = photo.resize((width, height), Image.Resampling.BILINEAR, box=(left, top, right, bottom))
        if lut is not None:
            frame = frame.point(lut)
        out[t] = np.asarray(frame, dtype=np.uint8)
        y, x = plan.sprite_xy[t]
        patch = out[t, y : y + side, x : x + side].astype(np.float32)
        blended = patch * (1.0 - alpha) + color * alpha
        out[t, y : y + side, x : x + side] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return out


def encode_mp4(frames: np.ndarray, path: Path, fps: int) -> None:
    """Encode RGB frames as an H.264 (libx264, yuv420p) ``.mp4``, written to a temporary name then renamed.

    Args:
        frames: ``uint8`` array ``(T, H, W, 3)``; ``H`` and ``W`` must be even.
        path: Destination file.
        fps: Frame rate.

    Raises:
        ValueError: If the frames are not ``uint8 (T, H, W, 3)`` with even ``H`` and ``W``.
    """
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3:
        raise ValueError(f"frames must be uint8 of shape (T, H, W, 3), got {frames.dtype} {frames.shape}")
    _, height, width, _ = frames.shape
    if height % 2 or width % 2:
        raise ValueError(f"libx264 with yuv420p needs even frame sizes, got {height}x{width}")
    with atomic_output(path) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        stream.codec_context.gop_size = fps
        stream.codec_context.thread_count = 1
        stream.options = {"crf": str(CRF), "preset": PRESET, "x264-params": X264_PARAMS}
        for t, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def render_video(plan: VideoPlan, path: Path) -> int:
    """Render and encode one planned video to ``path``; return the file size in bytes (a picklable pool task)."""
    encode_mp4(render_frames(plan), path, plan.fps)
    return path.stat().st_size
