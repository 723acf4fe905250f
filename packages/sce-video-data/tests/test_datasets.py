from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sce_video_data.indexes import folders_index
from sce_video_data.loading.batch_sampler import BatchRequest, ResumableBatchSampler, sample_seed
from sce_video_data.loading.clip_sampling import clip_frame_indices, random_clip_starts, uniform_clip_starts
from sce_video_data.loading.datasets import ShardVideoDataset, VideoFileDataset
from sce_video_data.loading.loader import BatchLoader
from sce_video_data.shards.build import build_shards
from sce_video_data.synthetic import decode_frame_index
from sce_video_data.transforms import Compose, RandomCrop, ShortSideScale

pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")

# (num_frames, fps) of the items of the index_videos fixture, in folders_index order
VIDEOS = [(150, 25.0), (20, 25.0), (100, 30.0)]


@pytest.fixture(scope="module")
def shards(index_videos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    items, names = folders_index(index_videos)
    out = tmp_path_factory.mktemp("shards")
    build_shards(items, names, index_videos, out, items_per_shard=2, progress=False)
    return out


def _decoded(video: torch.Tensor) -> list[list[int]]:
    return [[decode_frame_index(f) for f in clip] for clip in video]


def _expected_random(index: int, seed: int, position: int, frames: int, clips: int) -> list[list[int]]:
    """The clips of a sample whose generator is seeded from ``(seed, epoch 0, position)``: starts drawn first."""
    n, fps = VIDEOS[index]
    generator = torch.Generator().manual_seed(sample_seed(seed, 0, position))
    starts = random_clip_starts(n / fps, 2.56, clips, torch.rand(clips, generator=generator).tolist())
    return clip_frame_indices(starts, 2.56, frames, n, fps)


def _datasets(shards: Path, index_videos: Path, **kwargs: object) -> list[torch.utils.data.Dataset]:
    items, names = folders_index(index_videos)
    return [ShardVideoDataset(shards, **kwargs), VideoFileDataset(index_videos, items, class_names=names, **kwargs)]


@pytest.mark.parametrize("which", [0, 1])
def test_random_sampling_gives_exact_frames(shards: Path, index_videos: Path, which: int) -> None:
    dataset = _datasets(shards, index_videos, frames=8, num_clips=2)[which]
    assert len(dataset) == 3
    for seed in (0, 1):
        request = BatchRequest((0, 1, 2), (3, 4, 5), seed=seed)
        batch = dataset[request]
        videos = batch["video"]  # landscape and portrait videos: one tensor per sample
        assert isinstance(videos, list) and [v.shape[:2] for v in videos] == [(2, 8)] * 3
        assert all(v.dtype == torch.uint8 for v in videos)
        assert batch["index"].tolist() == [0, 1, 2] and batch["label"].tolist() == [0, 0, 1]
        for row, index in enumerate(range(3)):
            assert _decoded(videos[row]) == _expected_random(index, seed, 3 + row, 8, 2)


@pytest.mark.parametrize("which", [0, 1])
def test_one_sample_draws_from_the_global_generator(shards: Path, index_videos: Path, which: int) -> None:
    dataset = _datasets(shards, index_videos, frames=8, num_clips=2)[which]
    draws = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed)
        sample = dataset[0]
        assert sample["video"].shape[:2] == (2, 8) and sample["index"] == 0 and sample["label"] == 0
        assert isinstance(sample["label"], int) and isinstance(sample["index"], int)
        draws.append(_decoded(sample["video"]))
    assert draws[0] == draws[1] != draws[2]
    with pytest.raises(IndexError):
        dataset[3]


@pytest.mark.parametrize("which", [0, 1])
def test_uniform_sampling_gives_exact_frames(shards: Path, index_videos: Path, which: int) -> None:
    dataset = _datasets(shards, index_videos, frames=4, sampling="uniform", clips_per_video=5)[which]
    for index, (n, fps) in enumerate(VIDEOS):
        expected = clip_frame_indices(uniform_clip_starts(n / fps, 2.56, 5), 2.56, 4, n, fps)
        assert _decoded(dataset[index]["video"]) == expected
    # the 20-frame (0.8 s) video: every clip starts at 0 and repeats frames
    assert _decoded(dataset[1]["video"])[0] == [0, 6, 12, 19]


def test_hand_computed_uniform_clips(shards: Path) -> None:
    dataset = ShardVideoDataset(shards, frames=8, sampling="uniform", clips_per_video=2)
    # 150 frames at 25 fps: duration 6 s, starts 0 and 3.44 s -> frames [0, 64) and [86, 150)
    assert _decoded(dataset[0]["video"]) == [[0, 9, 18, 27, 36, 45, 54, 63], [86, 95, 104, 113, 122, 131, 140, 149]]


def test_transform_runs_per_clip_and_loader_workers(shards: Path) -> None:
    transform = Compose((ShortSideScale(64), RandomCrop(32)))
    dataset = ShardVideoDataset(shards, transform=transform)
    sampler = ResumableBatchSampler(3, 3, shuffle=False)
    batch = next(iter(BatchLoader(dataset, sampler, num_workers=1)))
    assert batch["video"].shape == (3, 2, 8, 32, 32, 3) and batch["video"].dtype == torch.uint8
    assert batch["label"].tolist() == [0, 0, 1] and batch["index"].tolist() == [0, 1, 2]
    assert torch.equal(batch["video"], dataset[next(iter(sampler))]["video"])


def test_bad_arguments(shards: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sampling"):
        ShardVideoDataset(shards, sampling="dense")
    with pytest.raises(FileNotFoundError, match="not a shard folder"):
        ShardVideoDataset(tmp_path)
    with pytest.raises(FileNotFoundError):
        VideoFileDataset(tmp_path / "missing", [])


@pytest.mark.gpu
def test_cuda_decode_gives_the_same_frames(shards: Path) -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    torch.manual_seed(3)
    video = ShardVideoDataset(shards, decode_device="cuda")[0]["video"]
    assert video.is_cuda and video.dtype == torch.uint8
    torch.manual_seed(3)
    assert _decoded(video.cpu()) == _decoded(ShardVideoDataset(shards)[0]["video"])
    sampler = ResumableBatchSampler(3, 3, shuffle=False, seed=4)
    batch = next(iter(BatchLoader(ShardVideoDataset(shards, decode_device="cuda"), sampler)))
    assert all(v.is_cuda for v in batch["video"])
    assert [_decoded(v.cpu()) for v in batch["video"]] == [_expected_random(i, 4, i, 8, 2) for i in range(3)]


def test_worker_state_is_a_path_and_memory_maps(shards: Path) -> None:
    """What a loader worker receives does not grow with the dataset: the pickled dataset holds the folder path only,
    and the index arrays and shards are memory-mapped (read through the page cache, shared between workers)."""
    import pickle

    import numpy as np

    dataset = ShardVideoDataset(shards)
    dataset[0]  # open the index and a shard in this process
    arrays = dataset.reader.index.arrays
    assert all(isinstance(v, np.memmap) or getattr(v, "base", None) is not None for v in arrays.values())
    payload = pickle.dumps(dataset)
    assert len(payload) < 2048, len(payload)
    clone = pickle.loads(payload)
    assert clone.reader._maps == {} and clone.reader._index is None  # reopened lazily in the worker
    assert torch.equal(clone.reader.read_frames(0, [0]), dataset.reader.read_frames(0, [0]))
