from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from sce_video_data.clip_sampling import clip_frame_indices, random_clip_starts, uniform_clip_starts
from sce_video_data.datasets import ShardVideoDataset, VideoFileDataset
from sce_video_data.indexes import folders_index
from sce_video_data.shard_build import build_shards
from sce_video_data.synthetic import decode_frame_index

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


def _expected_random(index: int, seed: int, frames: int, clips: int) -> list[list[int]]:
    n, fps = VIDEOS[index]
    torch.manual_seed(seed)
    starts = random_clip_starts(n / fps, 2.56, clips, torch.rand(clips).tolist())
    return clip_frame_indices(starts, 2.56, frames, n, fps)


def _datasets(shards: Path, index_videos: Path, **kwargs: object) -> list[torch.utils.data.Dataset]:
    items, names = folders_index(index_videos)
    return [ShardVideoDataset(shards, **kwargs), VideoFileDataset(index_videos, items, class_names=names, **kwargs)]


@pytest.mark.parametrize("which", [0, 1])
def test_random_sampling_gives_exact_frames(shards: Path, index_videos: Path, which: int) -> None:
    dataset = _datasets(shards, index_videos, frames=8, num_clips=2)[which]
    assert len(dataset) == 3
    for index in range(3):
        for seed in (0, 1):
            torch.manual_seed(seed)
            sample = dataset[index]
            assert sample["video"].dtype == torch.uint8 and sample["video"].shape[:2] == (2, 8)
            assert sample["index"] == index and sample["label"] == (1 if index == 2 else 0)
            assert _decoded(sample["video"]) == _expected_random(index, seed, 8, 2)


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
    def crop(clip: torch.Tensor) -> torch.Tensor:
        assert clip.shape[0] == 8 and clip.shape[-1] == 3 and clip.dtype == torch.uint8
        return clip[:, :32, :32].permute(3, 0, 1, 2).float()

    dataset = ShardVideoDataset(shards, transform=crop)
    loader = DataLoader(dataset, batch_size=3, num_workers=1)
    batch = next(iter(loader))
    assert batch["video"].shape == (3, 2, 3, 8, 32, 32) and batch["label"].tolist() == [0, 0, 1]


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
    assert _decoded(video.cpu()) == _expected_random(0, 3, 8, 2)


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

