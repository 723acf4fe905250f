"""The batch path of ShardVideoDataset (``__getitems__`` + the registered collate) equals collating ``dataset[i]``."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, Subset, default_collate

from sce_video_data import ShardReader, ShardVideoDataset, jpeg_decoders
from sce_video_data import datasets as datasets_module
from sce_video_data.clip_sampling import clip_frame_indices, uniform_clip_starts
from sce_video_data.collation import BatchSample
from sce_video_data.jpeg_decoders import simplejpeg_available
from sce_video_data.synthetic import decode_frame_index, write_index_shards
from sce_video_data.transforms import CenterCrop, RandomCrop, RandomResizedCrop

pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")
needs_simplejpeg = pytest.mark.skipif(not simplejpeg_available(), reason="simplejpeg (sce-video-data[turbo]) missing")

FRAMES = (50, 10, 80, 3)  # items cycle through these frame counts: 10 and 3 frames repeat frames in a clip
BATCH = 3
WORKER_SEED = 1000


@pytest.fixture(scope="module")
def one_size(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 items of 32x24 frames in 3 shard files."""
    return write_index_shards(tmp_path_factory.mktemp("one_size") / "s", 12, frames=FRAMES, items_per_shard=5)


@pytest.fixture(scope="module")
def mixed_sizes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 items whose frames alternate between 32x24 and 48x32 (one folder, different source sizes)."""
    out = tmp_path_factory.mktemp("mixed") / "s"
    return write_index_shards(out, 12, frames=FRAMES, sizes=((32, 24), (48, 32)), items_per_shard=5)


def _crop(clip: torch.Tensor) -> torch.Tensor:
    return RandomResizedCrop(16)(clip)


def _two_views(clip: torch.Tensor) -> torch.Tensor:
    return torch.stack([RandomCrop(16)(clip), CenterCrop(16)(clip)])


def _float_center(clip: torch.Tensor) -> torch.Tensor:
    return CenterCrop(20)(clip).permute(3, 0, 1, 2).float() / 255


TRANSFORMS: dict[str, Callable[[torch.Tensor], torch.Tensor] | None] = {
    "none": None,
    "random_resized_crop": _crop,
    "two_views": _two_views,
    "float_center": _float_center,
}


def _dataset(path: Path, sampling: str, transform: str) -> ShardVideoDataset:
    return ShardVideoDataset(
        path, frames=4, num_clips=2, sampling=sampling, clips_per_video=3, transform=TRANSFORMS[transform]
    )


def _set_worker_seed(worker: int) -> None:
    torch.manual_seed(WORKER_SEED + worker)


def _loader(dataset: Any, order: Sequence[int], workers: int) -> DataLoader:
    """The loader the apps build (default collate), with known RNG seeds in the main process and the workers."""
    return DataLoader(
        dataset,
        batch_size=BATCH,
        sampler=list(order),
        num_workers=workers,
        drop_last=True,
        generator=torch.Generator().manual_seed(0),  # the loader's own seed draw leaves the global RNG alone
        worker_init_fn=_set_worker_seed if workers else None,
    )


def _reference(dataset: ShardVideoDataset, rows: Sequence[int], workers: int) -> list[dict[str, Any]]:
    """Each batch as ``default_collate([dataset[i] ...])`` with the RNG state the loader's process has."""
    batches = [list(rows[k : k + BATCH]) for k in range(0, len(rows) - BATCH + 1, BATCH)]
    out: list[dict[str, Any] | None] = [None] * len(batches)
    for worker in range(max(workers, 1)):  # batches go to the workers round-robin
        torch.manual_seed(WORKER_SEED + worker if workers else 7)
        for b in range(worker, len(batches), max(workers, 1)):
            out[b] = default_collate([dataset[i] for i in batches[b]])
    return [batch for batch in out if batch is not None]


def _assert_equal(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert len(got) == len(expected) > 0
    for a, b in zip(got, expected, strict=True):
        assert list(a) == ["video", "label", "index"]
        for key in ("video", "label", "index"):
            assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
            assert torch.equal(a[key], b[key]), key


ORDER = [5, 0, 11, 3, 3, 8, 1, 10, 6, 2, 9, 4, 7]  # a repeat, and a last incomplete batch that drop_last drops
DECODERS = ["torchvision", pytest.param("simplejpeg", marks=needs_simplejpeg)]


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("sampling", ["random", "uniform"])
@pytest.mark.parametrize("transform", list(TRANSFORMS))
def test_loader_batches_equal_collated_items(one_size: Path, workers: int, sampling: str, transform: str) -> None:
    dataset = _dataset(one_size, sampling, transform)
    torch.manual_seed(7)
    got = list(_loader(dataset, ORDER, workers))
    _assert_equal(got, _reference(dataset, ORDER, workers))
    if workers:
        assert all(batch["video"].is_shared() for batch in got)


@needs_simplejpeg
@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize(("folder", "transform"), [("one_size", t) for t in TRANSFORMS] + [("mixed", "two_views")])
def test_simplejpeg_batches_equal_torchvision_batches(
    one_size: Path, mixed_sizes: Path, workers: int, folder: str, transform: str
) -> None:
    """Decoding straight into the batch gives the batches of torchvision's decoder, pixel for pixel."""
    path = one_size if folder == "one_size" else mixed_sizes
    batches = {}
    for decoder in ("torchvision", "simplejpeg"):
        dataset = ShardVideoDataset(path, frames=4, num_clips=2, transform=TRANSFORMS[transform], jpeg_decoder=decoder)
        torch.manual_seed(7)
        batches[decoder] = list(_loader(dataset, ORDER, workers))
    _assert_equal(batches["simplejpeg"], batches["torchvision"])


def test_unknown_jpeg_decoder_is_refused(one_size: Path) -> None:
    with pytest.raises(ValueError, match="jpeg_decoder: expected one of 'auto', 'torchvision', .*got 'pil'"):
        ShardVideoDataset(one_size, jpeg_decoder="pil")


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("sampling", ["random", "uniform"])
def test_subset_forwards_batches(one_size: Path, workers: int, sampling: str) -> None:
    dataset = _dataset(one_size, sampling, "random_resized_crop" if sampling == "random" else "none")
    rows = [9, 2, 7, 7, 0, 4, 11]
    subset = Subset(dataset, rows)
    assert callable(getattr(subset, "__getitems__", None))
    torch.manual_seed(7)
    got = list(_loader(subset, range(len(rows)), workers))
    _assert_equal(got, _reference(dataset, rows, workers))
    assert [batch["index"].tolist() for batch in got] == [rows[0:3], rows[3:6]]


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("sampling", ["random", "uniform"])
def test_mixed_frame_sizes_with_a_crop(mixed_sizes: Path, workers: int, sampling: str) -> None:
    dataset = _dataset(mixed_sizes, sampling, "random_resized_crop")
    torch.manual_seed(7)
    _assert_equal(list(_loader(dataset, ORDER, workers)), _reference(dataset, ORDER, workers))


def test_mixed_frame_sizes_without_transform_are_separate(mixed_sizes: Path) -> None:
    dataset = _dataset(mixed_sizes, "uniform", "none")
    samples = dataset.__getitems__([0, 1, 2])
    assert [tuple(s["video"].shape) for s in samples] == [(3, 4, 24, 32, 3), (3, 4, 32, 48, 3), (3, 4, 24, 32, 3)]
    for index, sample in zip([0, 1, 2], samples, strict=True):
        assert type(sample) is dict and torch.equal(sample["video"], dataset[index]["video"])
    with pytest.raises(RuntimeError, match="equal size"):  # what the default collate of dataset[i] does too
        next(iter(_loader(dataset, [0, 1, 2], 0)))
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([dataset[i] for i in (0, 1, 2)])
    same = list(_loader(dataset, [0, 2, 4], 0))  # items of one size in a batch of a mixed folder
    _assert_equal(same, [default_collate([dataset[i] for i in (0, 2, 4)])])


def test_batch_frames_are_the_exact_indices(one_size: Path) -> None:
    dataset = _dataset(one_size, "uniform", "none")
    batch = default_collate(dataset.__getitems__([0, 1, 2, 3]))
    for row, index in enumerate(range(4)):
        n = FRAMES[index % len(FRAMES)]
        expected = clip_frame_indices(uniform_clip_starts(n / 25.0, 2.56, 3), 2.56, 4, n, 25.0)
        assert [[decode_frame_index(f) for f in clip] for clip in batch["video"][row]] == expected


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("transform", ["none", "two_views"])
def test_each_distinct_frame_is_decoded_once(
    one_size: Path, monkeypatch: pytest.MonkeyPatch, transform: str, decoder: str
) -> None:
    """On the CPU, frames are decoded one by one (straight into the batch or the transform's input), once each."""
    calls: list[str] = []
    real_frame, turbo = datasets_module.decode_jpeg_frame, jpeg_decoders.TURBO

    def counting_frame(data: torch.Tensor) -> torch.Tensor:
        calls.append("torchvision")
        return real_frame(data)

    def counting_into(data: Any, out: Any) -> bool:
        done = turbo.decode(data, out)
        calls.append("into" if done else "refused")
        return done

    monkeypatch.setattr(datasets_module, "decode_jpegs", None)  # the one-call (GPU) path must not run
    monkeypatch.setattr(datasets_module, "decode_jpeg_frame", counting_frame)
    monkeypatch.setattr(datasets_module, "TURBO", turbo._replace(decode=counting_into))
    dataset = ShardVideoDataset(one_size, frames=4, sampling="uniform", clips_per_video=3, jpeg_decoder=decoder)
    dataset.transform = TRANSFORMS[transform]
    indices = [1, 3, 0]  # 10 and 3 frames: clips repeat frames
    distinct = [len({f for clip in dataset.frame_indices(i) for f in clip}) for i in indices]
    samples = dataset.__getitems__(indices)
    assert distinct[1] == 3 and len(samples) == 3
    assert calls == (["torchvision"] if decoder == "torchvision" else ["into"]) * sum(distinct)


def test_frames_decoded_into_the_batch_equal_the_reader(one_size: Path) -> None:
    """The per-frame path against ``ShardReader.read_frames`` (torchvision's public batched decoder)."""
    dataset = _dataset(one_size, "uniform", "none")
    batch = default_collate(dataset.__getitems__([1, 3, 0, 2]))
    for row, index in enumerate([1, 3, 0, 2]):
        for clip, frames in enumerate(dataset.frame_indices(index)):
            assert torch.equal(batch["video"][row, clip], dataset.reader.read_frames(index, frames))


@pytest.mark.parametrize("transform", ["none", "two_views"])
def test_one_decode_call_per_batch_gives_the_same_batches(
    mixed_sizes: Path, monkeypatch: pytest.MonkeyPatch, transform: str
) -> None:
    """The grouping used with ``decode_device="cuda"`` (all frames of the batch in one call), run on the CPU."""
    dataset = _dataset(mixed_sizes, "uniform", transform)
    order = [0, 2, 4, 6, 8, 10] if transform == "none" else ORDER  # one frame size unless a crop follows
    torch.manual_seed(3)
    expected = list(_loader(dataset, order, 0))
    monkeypatch.setattr(ShardVideoDataset, "_decode_per_item", lambda self: False)
    torch.manual_seed(3)
    _assert_equal(list(_loader(dataset, order, 0)), expected)


def test_collate_copies_unless_given_one_whole_batch(one_size: Path) -> None:
    dataset = _dataset(one_size, "uniform", "none")
    samples = dataset.__getitems__([4, 5, 6])
    assert all(isinstance(s, BatchSample) for s in samples)
    expected = default_collate([dict(s) for s in samples])
    reordered = default_collate([samples[2], samples[0], samples[1]])
    assert torch.equal(reordered["video"], expected["video"][[2, 0, 1]])
    assert reordered["index"].tolist() == [6, 4, 5]
    partial = default_collate(samples[:2])
    assert torch.equal(partial["video"], expected["video"][:2])
    whole = default_collate(samples)  # no copy: the rows of the batch tensor are the samples' videos
    assert whole["video"].data_ptr() == samples[0]["video"].data_ptr()
    _assert_equal([whole], [expected])
    again = default_collate(samples)  # a second collate of the same list must not alias the first one
    assert again["video"].data_ptr() != whole["video"].data_ptr() and torch.equal(again["video"], whole["video"])
    edited = dataset.__getitems__([4, 5, 6])
    edited[1]["video"] = edited[1]["video"].flip(1)
    batch = default_collate(edited)
    assert torch.equal(batch["video"][1], expected["video"][1].flip(1))
    assert torch.equal(batch["video"][0], expected["video"][0])


def test_frame_byte_views_equal_copies(one_size: Path) -> None:
    reader = ShardReader(one_size)
    items, frames = [0, 7, 11, 0], [[0, 3], [1], [0, 2, 2], [49]]  # items of 3 shard files, a repeated frame
    views = reader.frame_bytes_many(items, frames, copy=False)
    copies = reader.frame_bytes_many(items, frames)
    assert len(views) == len(copies) == 7 and all(torch.equal(v, c) for v, c in zip(views, copies, strict=True))
    assert copies[0].data_ptr() != views[0].data_ptr()
    assert all(torch.equal(c, v) for c, v in zip(reader.frame_bytes(11, [0, 2, 2]), views[3:6], strict=True))
    for copy in (True, False):
        with pytest.raises(IndexError, match="out of range"):
            reader.frame_bytes_many([1, 3], [[0], [3]], copy=copy)  # item 3 has 3 frames


def test_batch_samples_behave_as_plain_dicts(one_size: Path) -> None:
    dataset = _dataset(one_size, "uniform", "none")
    sample = dataset.__getitems__([2, 3])[0]
    clone = pickle.loads(pickle.dumps(sample))
    assert type(clone) is dict and torch.equal(clone["video"], dataset[2]["video"]) and clone["index"] == 2
    assert type(dataset[2]) is dict and dataset[2]["label"] == 0 and isinstance(dataset[2]["label"], int)
    assert dataset.__getitems__([]) == []
    with pytest.raises(IndexError):
        dataset.__getitems__([0, 12])
    with pytest.raises(IndexError):
        dataset[-1]


def test_custom_collate_receives_the_samples(mixed_sizes: Path) -> None:
    dataset = _dataset(mixed_sizes, "uniform", "none")
    loader = DataLoader(dataset, batch_size=4, collate_fn=lambda batch: batch)
    batch = next(iter(loader))
    assert len(batch) == 4
    for index, sample in enumerate(batch):
        assert torch.equal(sample["video"], dataset[index]["video"]) and sample["index"] == index


@pytest.mark.gpu
@pytest.mark.parametrize("sampling", ["random", "uniform"])
def test_cuda_decode_batches_equal_collated_items(one_size: Path, sampling: str) -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    dataset = ShardVideoDataset(one_size, frames=4, sampling=sampling, clips_per_video=3, decode_device="cuda")
    torch.manual_seed(7)
    got = list(_loader(dataset, ORDER, 0))
    assert all(batch["video"].is_cuda for batch in got)
    _assert_equal(got, _reference(dataset, ORDER, 0))
    cpu = _dataset(one_size, sampling, "none")
    torch.manual_seed(7)
    for a, b in zip(got, _loader(cpu, ORDER, 0), strict=True):  # the same frames as the CPU decoder gives
        assert _frame_numbers(a["video"].cpu()) == _frame_numbers(b["video"])


def _frame_numbers(batch: torch.Tensor) -> list[list[list[int]]]:
    return [[[decode_frame_index(f) for f in clip] for clip in sample] for sample in batch]
