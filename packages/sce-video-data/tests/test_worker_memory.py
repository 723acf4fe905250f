"""Memory of a DataLoader worker does not grow with the number of videos of the shard folder.

The measure is the worker's private dirty memory (``Private_Dirty`` of /proc/PID/smaps_rollup): what the worker
allocated or wrote itself. RSS and USS would also count the clean, file-backed pages of the memory-mapped index and
shards that only this worker happens to map (page cache, reclaimable, shared as soon as another process maps them).
A control dataset that keeps one small Python record per video, as a naive dataset does, shows that the measure
sees such growth.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from sce_video_data import ResumableBatchSampler, SamplePlan, ShardVideoDataset
from sce_video_data.synthetic import write_index_shards

pytestmark = [
    pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning"),
    pytest.mark.skipif(not Path("/proc/self/smaps_rollup").is_file(), reason="needs Linux /proc/PID/smaps_rollup"),
]

SMALL, LARGE = 30, 30_000
GROWTH_LIMIT_MIB = 4.0  # measured: under 1 MiB for ShardVideoDataset, about 9 MiB for the per-video control


class PerVideoRecords(ShardVideoDataset):
    """Control: builds one small Python record per video in each worker (what the shard design avoids)."""

    def plan(self, index: int, generator: torch.Generator | None) -> SamplePlan:
        if not hasattr(self, "records"):
            self.records = [{"path": f"class/video_{k:06d}.mp4", "label": k % 7} for k in range(len(self))]
        return super().plan(index, generator)


def _record_pid(folder: Path, worker: int) -> None:
    (folder / f"worker-{worker}.pid").write_text(str(os.getpid()))


def _private_dirty_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Private_Dirty:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no Private_Dirty line for process {pid}")


def _worker_mib(dataset: ShardVideoDataset, tmp: Path, samples: int = 96) -> float:
    """Private dirty MiB of the one worker after it read ``samples`` samples spread over the whole folder."""
    order = [(k * 7919) % len(dataset) for k in range(samples)]
    pids = tmp / f"pids-{len(dataset)}-{type(dataset).__name__}"
    pids.mkdir(exist_ok=True)
    loader = DataLoader(  # what BatchLoader builds, with a persistent worker to measure
        dataset,
        batch_size=None,
        sampler=ResumableBatchSampler(order, 8, shuffle=False),
        num_workers=1,
        persistent_workers=True,  # the worker stays alive after the epoch, to be measured
        worker_init_fn=functools.partial(_record_pid, pids),
    )
    assert sum(len(batch["index"]) for batch in loader) == samples
    mib = _private_dirty_mib(int((pids / "worker-0.pid").read_text()))
    del loader
    return mib


def _growth(cls: type[ShardVideoDataset], folders: dict[int, Path], tmp: Path) -> float:
    """Lowest of two interleaved measures per folder, large minus small (heap noise is about 1 MiB)."""
    runs: dict[int, list[float]] = {n: [] for n in folders}
    for _ in range(2):
        for n, folder in folders.items():
            runs[n].append(_worker_mib(cls(folder, frames=4, num_clips=2), tmp))
    return min(runs[LARGE]) - min(runs[SMALL])


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("memory")
    return {n: write_index_shards(root / f"{n}", n, frames=10, items_per_shard=10_000) for n in (SMALL, LARGE)}


def test_worker_memory_does_not_grow_with_the_number_of_videos(folders: dict[int, Path], tmp_path: Path) -> None:
    growth = _growth(ShardVideoDataset, folders, tmp_path)
    assert growth < GROWTH_LIMIT_MIB, f"worker private memory grew by {growth:.1f} MiB from {SMALL} to {LARGE} videos"


def test_the_measure_sees_per_video_state(folders: dict[int, Path], tmp_path: Path) -> None:
    growth = _growth(PerVideoRecords, folders, tmp_path)
    assert growth > GROWTH_LIMIT_MIB, f"control grew by only {growth:.1f} MiB: the measure is not sensitive enough"
