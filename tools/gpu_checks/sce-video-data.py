"""GPU check of sce-video-data (part 1): JPEG decoding of shard frames on CUDA.

Builds a tiny shard folder from generated videos whose frames spell their own index, then checks that
ShardVideoDataset(decode_device="cuda") returns CUDA uint8 clips with the exact frame indices and within a few grey
levels of the CPU decode, and times CPU vs GPU batched decode of the same frames. Exits non-zero on failure.
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

from sce_video_data import ShardReader, ShardVideoDataset, build_shards
from sce_video_data.indexes import folders_index
from sce_video_data.shard_reader import decode_jpegs
from sce_video_data.synthetic import decode_frame_index, write_index_video

warnings.filterwarnings("ignore", message="The image decoding", category=DeprecationWarning)


def main() -> int:
    if not torch.cuda.is_available():
        print("FAIL: CUDA is not available")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "videos"
        write_index_video(root / "a/v0.mp4", 150, fps=25, width=320, height=240)
        write_index_video(root / "b/v1.mp4", 90, fps=30, width=240, height=320)
        items, names = folders_index(root)
        build_shards(items, names, root, Path(tmp) / "shards", progress=False)
        failures = []
        for index in range(2):
            torch.manual_seed(index)
            cpu = ShardVideoDataset(Path(tmp) / "shards")[index]["video"]
            torch.manual_seed(index)
            dataset = ShardVideoDataset(Path(tmp) / "shards", decode_device="cuda")
            gpu = dataset[index]["video"]
            torch.manual_seed(index)
            expected = dataset.frame_indices(index)
            got = [[decode_frame_index(f.cpu()) for f in clip] for clip in gpu]
            diff = (gpu.cpu().float() - cpu.float()).abs().mean().item()
            print(
                f"item {index}: device {gpu.device}, shape {tuple(gpu.shape)}, frames {got}, mean |gpu-cpu| {diff:.2f}"
            )
            if gpu.device.type != "cuda" or gpu.dtype != torch.uint8:
                failures.append(f"item {index}: expected a CUDA uint8 tensor, got {gpu.device} {gpu.dtype}")
            if got != expected:
                failures.append(f"item {index}: frames {got} != expected {expected}")
            if diff > 3.0:
                failures.append(f"item {index}: GPU decode differs from CPU by {diff:.2f} grey levels on average")
        reader = ShardReader(Path(tmp) / "shards")
        data = reader.frame_bytes(0, list(range(150)))
        for device in ("cpu", "cuda"):
            reader.read_frames(0, list(range(16)), device)
            torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(5):
                decode_jpegs(data, device)
            torch.cuda.synchronize()
            ms = (time.perf_counter() - start) / 5 * 1e3
            print(f"decode 150 frames (240p->128 short side) on {device}: {ms:.1f} ms")
    for failure in failures:
        print(f"FAIL: {failure}")
    print("OK" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
