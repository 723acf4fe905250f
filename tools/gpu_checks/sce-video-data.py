"""GPU check of sce-video-data (part 1): the production loader with JPEG decoding on CUDA.

Builds a tiny shard folder from generated videos whose frames spell their own index, then checks through
``BatchLoader`` (2 workers, as the programs build it) that ``ShardVideoDataset(decode_device="cuda")`` returns CUDA
uint8 batches with exactly the planned frame indices, and that with the pretraining crop and temporal difference
(``video_pretrain_crop(112, 0.5)``) every batch equals the CPU path's within one grey level; then times CPU vs GPU
batched decoding of the same frames. Exits non-zero on failure.
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

from sce_video_data import BatchLoader, ResumableBatchSampler, ShardReader, ShardVideoDataset, build_shards
from sce_video_data.codecs.jpeg import decode_jpegs
from sce_video_data.indexes import folders_index
from sce_video_data.synthetic import decode_frame_index, write_index_video
from sce_video_data.transforms import video_pretrain_crop

warnings.filterwarnings("ignore", message="The image decoding", category=DeprecationWarning)


def _batches(shards: Path, device: str, transform: object, sampling: str) -> list[dict]:
    dataset = ShardVideoDataset(shards, sampling=sampling, clips_per_video=3, transform=transform, decode_device=device)
    sampler = ResumableBatchSampler(len(dataset), 2, seed=5)
    return list(BatchLoader(dataset, sampler, num_workers=2))


def check_loader(shards: Path, failures: list[str]) -> None:
    """Exact indices on CUDA; CUDA == CPU within one grey level with crops and temporal differences."""
    for sampling, transform in (("uniform", None), ("random", video_pretrain_crop(112, 0.5))):
        cpu, gpu = _batches(shards, "cpu", transform, sampling), _batches(shards, "cuda", transform, sampling)
        for k, (a, b) in enumerate(zip(cpu, gpu, strict=True)):
            video = b["video"]
            if video.device.type != "cuda" or video.dtype != torch.uint8 or video.shape != a["video"].shape:
                failures.append(f"{sampling} batch {k}: got {video.device} {video.dtype} {tuple(video.shape)}")
                continue
            diff = (video.cpu().int() - a["video"].int()).abs()
            print(f"{sampling} batch {k}: {tuple(video.shape)} max |gpu-cpu| {int(diff.max())}")
            if int(diff.max()) > 1:
                failures.append(f"{sampling} batch {k}: GPU differs from CPU by up to {int(diff.max())} grey levels")
            if transform is None:
                got = [[[decode_frame_index(f) for f in clip] for clip in sample] for sample in video.cpu()]
                want = [[[decode_frame_index(f) for f in clip] for clip in sample] for sample in a["video"]]
                if got != want:
                    failures.append(f"uniform batch {k}: frames {got} != {want}")


def time_decode(shards: Path) -> None:
    """CPU vs GPU batched decoding of 150 stored frames."""
    reader = ShardReader(shards)
    data = reader.frame_bytes(0, list(range(150)))
    for device in ("cpu", "cuda"):
        decode_jpegs(data[:4], device)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(5):
            decode_jpegs(data, device)
        torch.cuda.synchronize()
        print(f"decode 150 frames (240p -> short side 128) on {device}: {(time.perf_counter() - start) / 5e-3:.1f} ms")


def main() -> int:
    if not torch.cuda.is_available():
        print("FAIL: CUDA is not available")
        return 1
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "videos"
        write_index_video(root / "a/v0.mp4", 150, fps=25, width=320, height=240)
        write_index_video(root / "b/v1.mp4", 90, fps=30, width=240, height=320)
        write_index_video(root / "a/v2.mp4", 120, fps=25, width=320, height=240)
        write_index_video(root / "b/v3.mp4", 100, fps=25, width=320, height=240)
        items, names = folders_index(root)
        build_shards(items, names, root, Path(tmp) / "shards", progress=False)
        check_loader(Path(tmp) / "shards", failures)
        time_decode(Path(tmp) / "shards")
    for failure in failures:
        print(f"FAIL: {failure}")
    print("OK" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
