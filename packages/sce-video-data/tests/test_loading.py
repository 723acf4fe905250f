"""The batch-native loading path: ``dataset[BatchRequest]`` is a whole batch, planned per sample, then decoded.

Every batch is checked against references computed one sample at a time with torchvision's decoder
(``ShardReader.read_frames``): the sample's plan drawn from a generator seeded like the sampler's, and, where no
temporal difference is involved, the transform itself called on the decoded clip.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from sce_video_data import (
    BatchLoader,
    BatchRequest,
    PendingBatch,
    ResumableBatchSampler,
    ShardImageDataset,
    ShardReader,
    ShardVideoDataset,
    VideoFileDataset,
    build_shards,
    finish_batch,
    folders_index,
)
from sce_video_data.codecs.jpeg import simplejpeg_available
from sce_video_data.loading.batch_sampler import sample_seed
from sce_video_data.loading.clip_sampling import (
    clip_frame_indices,
    clip_frame_range,
    random_clip_starts,
    uniform_clip_starts,
    uniform_temporal_subsample,
)
from sce_video_data.loading.plans import SamplePlan
from sce_video_data.synthetic import decode_frame_index, write_index_shards
from sce_video_data.transforms import (
    CenterCrop,
    Compose,
    MultiCrop,
    RandomCrop,
    RandomShortSideScale,
    RandomTemporalDifference,
    ShortSideScale,
    grayscale_difference,
    video_eval_views,
    video_pretrain_crop,
    video_train_crop,
)

pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")
needs_simplejpeg = pytest.mark.skipif(not simplejpeg_available(), reason="simplejpeg (sce-video-data[turbo]) missing")

FRAMES = (50, 10, 80, 3)  # frame counts cycled over the items (25 fps): 10 and 3 frames repeat frames in a clip
ROWS = 12
SEED, EPOCH = 5, 2
TRANSFORMS: dict[str, Any] = {
    "none": None,
    "pretrain": video_pretrain_crop(16, 0.5),
    "train": video_train_crop(16, 24, 30),
    "eval_views": video_eval_views(24, 3, 16),
    "multi_scale": MultiCrop(  # views of different first resizes, and one crop first
        (Compose((ShortSideScale(16), RandomCrop(16))), Compose((ShortSideScale(20), CenterCrop(16))), RandomCrop(16))
    ),
}


@pytest.fixture(scope="module")
def one_size(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 items of 32x24 frames in 3 shard files."""
    return write_index_shards(tmp_path_factory.mktemp("one_size") / "s", ROWS, frames=FRAMES, items_per_shard=5)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 items whose frames alternate between 32x24 and 48x32."""
    out = tmp_path_factory.mktemp("mixed") / "s"
    return write_index_shards(out, ROWS, frames=FRAMES, sizes=((32, 24), (48, 32)), items_per_shard=5)


@pytest.fixture(scope="module")
def video_shards(index_videos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated index videos of conftest, built into shards."""
    items, names = folders_index(index_videos)
    out = tmp_path_factory.mktemp("video_shards")
    build_shards(items, names, index_videos, out, items_per_shard=2, progress=False)
    return out


def _dataset(path: Path, transform: str = "none", sampling: str = "random", **kwargs: Any) -> ShardVideoDataset:
    kwargs.setdefault("jpeg_decoder", "torchvision")
    return ShardVideoDataset(
        path, frames=4, num_clips=2, sampling=sampling, clips_per_video=3, transform=TRANSFORMS[transform], **kwargs
    )


def _requests(sampler: ResumableBatchSampler, epoch: int = EPOCH) -> list[BatchRequest]:
    sampler.set_epoch(epoch)
    return list(sampler)


def _generator(position: int, seed: int = SEED, epoch: int = EPOCH) -> torch.Generator:
    return torch.Generator().manual_seed(sample_seed(seed, epoch, position))


def _reference_sample(dataset: ShardVideoDataset, index: int, generator: torch.Generator) -> tuple[SamplePlan, list]:
    """``(plan, clips)``: each clip a list of views ``(T, h, w, 3)``, computed alone with torchvision's decoder."""
    plan = dataset.plan(index, generator)
    clips = []
    for clip in plan.clips:
        x = dataset.reader.read_frames(index, clip.frames)
        if clip.next_frames is not None:
            x = grayscale_difference(x, dataset.reader.read_frames(index, clip.next_frames))
        clips.append([view.apply(x) for view in clip.views])
    return plan, clips


def _row_views(video: Any, row: int, clip: int, views: int, multi_view: bool) -> list[torch.Tensor]:
    """The views of clip ``clip`` of sample ``row`` of a batch's ``video`` entry (tensor or per-sample list)."""
    if isinstance(video, torch.Tensor):
        sample = video[row]
        return [sample[clip, v] for v in range(views)] if multi_view else [sample[clip]]
    if multi_view:  # one entry per view, each a tensor or a per-sample list
        return [view[row][clip] for view in video]
    return [video[row][clip]]


def _assert_equal_videos(left: Any, right: Any, atol: int = 0) -> None:
    """Equal batch entries: tensors of one shape and dtype within ``atol``, or lists of such."""
    if isinstance(left, torch.Tensor):
        assert isinstance(right, torch.Tensor) and left.shape == right.shape and left.dtype == right.dtype
        assert int((left.cpu().int() - right.cpu().int()).abs().max()) <= atol
        return
    assert isinstance(left, list) and isinstance(right, list) and len(left) == len(right)
    for x, y in zip(left, right, strict=True):
        _assert_equal_videos(x, y, atol)


def _assert_equal_batches(a: dict[str, Any], b: dict[str, Any], atol: int = 0) -> None:
    assert list(a) == list(b) == ["video", "label", "index"]
    assert torch.equal(a["label"], b["label"]) and torch.equal(a["index"], b["index"])
    _assert_equal_videos(a["video"], b["video"], atol)


def _assert_equal_batch_lists(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]]) -> None:
    assert len(a) == len(b) > 0
    for x, y in zip(a, b, strict=True):
        _assert_equal_batches(x, y)


@pytest.mark.parametrize("sampling", ["random", "uniform"])
@pytest.mark.parametrize("transform", list(TRANSFORMS))
def test_batch_rows_equal_samples_computed_alone(one_size: Path, sampling: str, transform: str) -> None:
    dataset = _dataset(one_size, transform, sampling)
    multi_view = isinstance(dataset.transform, MultiCrop)
    differences = 0
    for request in _requests(ResumableBatchSampler(ROWS, 4, seed=SEED)):
        batch = dataset[request]
        assert batch["index"].tolist() == list(request.indices)
        assert batch["label"].tolist() == [i % 2 for i in request.indices] and batch["label"].dtype == torch.int64
        video = batch["video"]
        views = 3 if multi_view else 1
        height, width = (24, 32) if transform == "none" else (16, 16)
        shape = (4, 2 if sampling == "random" else 3) + ((views,) if multi_view else ()) + (4, height, width, 3)
        assert video.dtype == torch.uint8 and tuple(video.shape) == shape
        for row, (index, position) in enumerate(zip(request.indices, request.positions, strict=True)):
            plan, clips = _reference_sample(dataset, index, _generator(position))
            assert plan.index == index and len(plan.clips) == shape[1]
            differences += sum(clip.next_frames is not None for clip in plan.clips)
            for c, expected in enumerate(clips):
                got = _row_views(video, row, c, views, multi_view)
                assert len(got) == len(expected) == views
                for g, e in zip(got, expected, strict=True):
                    assert torch.equal(g, e), (index, c)
    if transform == "pretrain":
        assert differences > 0  # the temporal-difference path was exercised


@pytest.mark.parametrize("sampling", ["random", "uniform"])
@pytest.mark.parametrize("transform", list(TRANSFORMS))
def test_batch_rows_equal_the_transform_called_on_the_clip(one_size: Path, sampling: str, transform: str) -> None:
    """Independent of the plans: draw the starts by hand, then call the transform itself on the decoded clip.

    The generator is the sample's, so the transform draws exactly what the plan drew. A temporal-difference clip is
    not compared (the transform differences consecutive kept frames, the dataset the next stored frame); the draws
    stay aligned since the transform draws the same numbers.
    """
    dataset = _dataset(one_size, transform, sampling)
    t = dataset.transform
    request = _requests(ResumableBatchSampler(ROWS, 6, seed=SEED))[1]
    batch = dataset[request]
    compared = 0
    for row, (index, position) in enumerate(zip(request.indices, request.positions, strict=True)):
        g = _generator(position)
        info = dataset.reader.item(index)
        if sampling == "random":
            starts = random_clip_starts(info.duration, 2.56, 2, torch.rand(2, generator=g).tolist())
        else:
            starts = uniform_clip_starts(info.duration, 2.56, 3)
        plan = dataset.plan(index, _generator(position))
        for c, kept in enumerate(clip_frame_indices(starts, 2.56, 4, info.num_frames, info.fps)):
            x = dataset.reader.read_frames(index, kept)
            out = x if t is None else t(x, g)
            expected = out if isinstance(out, list) else [out]
            got = _row_views(batch["video"], row, c, len(expected), isinstance(t, MultiCrop))
            if plan.clips[c].next_frames is None:
                assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True)), (index, c)
                compared += 1
            else:
                assert [a.shape for a in got] == [b.shape for b in expected]
    assert compared > 0


def test_exact_frame_indices_of_uniform_clips(one_size: Path) -> None:
    dataset = _dataset(one_size, "none", "uniform")
    batch = dataset[BatchRequest((0, 1, 2, 3), (0, 1, 2, 3))]
    numbers = [[[decode_frame_index(f) for f in clip] for clip in sample] for sample in batch["video"]]
    assert numbers == [
        [[0, 16, 32, 49]] * 3,  # 50 frames (2 s < 2.56 s): every clip starts at 0 and spans [0, 50)
        [[0, 3, 6, 9]] * 3,  # 10 frames
        # 80 frames: starts 0, 0.32, 0.64 s, i.e. frames [0, 64), [9, 72), [17, 80): in floating point the start
        # 0.32 s is frame 8.000000000000002 (ceil: 9), its end frame 72.0
        [[0, 21, 42, 63], [9, 29, 50, 71], [17, 37, 58, 79]],
        [[0, 0, 1, 2]] * 3,  # 3 frames: repeated
    ]


def test_exact_frame_indices_of_random_clips(one_size: Path) -> None:
    dataset = _dataset(one_size, "none", "random")
    request = BatchRequest((2, 6, 0), (7, 8, 9), seed=11, epoch=4)
    batch = dataset[request]
    for row, (index, position) in enumerate(zip(request.indices, request.positions, strict=True)):
        n = FRAMES[index % 4]
        uniforms = torch.rand(2, generator=_generator(position, 11, 4)).tolist()
        starts = [max(n / 25 - 2.56, 0.0) * u for u in uniforms]
        expected = clip_frame_indices(starts, 2.56, 4, n, 25.0)
        assert [[decode_frame_index(f) for f in clip] for clip in batch["video"][row]] == expected
    assert batch["index"].tolist() == [2, 6, 0]


def test_loader_with_workers_gives_the_same_batches(one_size: Path) -> None:
    dataset = _dataset(one_size, "pretrain", "random")
    sampler = ResumableBatchSampler(ROWS, 3, seed=SEED)
    sampler.set_epoch(EPOCH)
    loaders = [BatchLoader(dataset, sampler, num_workers=w) for w in (0, 2)]
    assert [len(loader) for loader in loaders] == [4, 4] and loaders[1].num_workers == 2
    runs = [list(loader) for loader in loaders]
    _assert_equal_batch_lists(runs[1], runs[0])
    _assert_equal_batch_lists(runs[0], [dataset[r] for r in sampler])
    assert all(batch["video"].is_shared() for batch in runs[1])  # whole batches crossed from the workers


def _cat(batches: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {key: torch.cat([b[key] for b in batches]) for key in ("video", "label", "index")}


@pytest.mark.parametrize(("rows", "drop_last"), [(12, True), (11, False)])
def test_two_processes_equal_one_with_the_global_batch(one_size: Path, rows: int, drop_last: bool) -> None:
    dataset = _dataset(one_size, "pretrain", "random")
    single = [dataset[r] for r in _requests(ResumableBatchSampler(rows, 4, seed=SEED, drop_last=drop_last))]
    samplers = [ResumableBatchSampler(rows, 2, num_replicas=2, rank=k, seed=SEED, drop_last=drop_last) for k in (0, 1)]
    ranks = [[dataset[r] for r in _requests(sampler)] for sampler in samplers]
    assert len(single) == 3 and len(ranks[0]) == 3
    assert [len(b["index"]) for b in ranks[1]] == ([2, 2, 2] if drop_last else [2, 2, 1])
    _assert_equal_batch_lists([_cat([a, b]) for a, b in zip(*ranks, strict=True)], single)


def _batches(dataset: ShardVideoDataset, samplers: Sequence[ResumableBatchSampler]) -> list[dict[str, Any]]:
    """The global batches of ``samplers`` (one per process, in rank order), concatenated over the processes."""
    per_rank = [[dataset[r] for r in sampler] for sampler in samplers]
    return [_cat(parts) for parts in zip(*per_rank, strict=True)]


def _samplers(processes: int, epoch: int = 3) -> list[ResumableBatchSampler]:
    """One sampler per process, global batch 4 over the 12 rows (3 global batches)."""
    batch = 4 // processes
    samplers = [ResumableBatchSampler(ROWS, batch, num_replicas=processes, rank=r, seed=SEED) for r in range(processes)]
    for sampler in samplers:
        sampler.set_epoch(epoch)
    return samplers


@pytest.mark.parametrize(("before", "after"), [(1, 1), (1, 2), (2, 1), (2, 2)])
def test_resume_mid_epoch_on_any_number_of_processes(one_size: Path, before: int, after: int) -> None:
    dataset = _dataset(one_size, "pretrain", "random")
    full = _batches(dataset, _samplers(1))
    assert len(full) == 3
    running = _samplers(before)
    iterators = [iter(s) for s in running]
    for it in iterators:  # one global batch done
        next(it)
    state = running[0].state_dict(batches_done=1)
    assert state == running[-1].state_dict()  # without prefetching: the count yielded, the same on every rank
    assert state["epoch"] == 3 and state["batches_done"] == 1 and state["global_batch"] == 4
    resumed = _samplers(after, epoch=0)
    for sampler in resumed:
        sampler.load_state_dict(state)
        sampler.set_epoch(3)  # what a training loop does at the start of the resumed epoch: the position stays
        assert len(sampler) == 2
    _assert_equal_batch_lists(_batches(dataset, resumed), full[1:])
    assert [len(s) for s in resumed] == [3] * after  # the next pass is a whole epoch again


def test_resume_with_another_global_batch_is_refused() -> None:
    state = _samplers(2)[0].state_dict(batches_done=1)
    with pytest.raises(ValueError, match="global_batch=4 does not match this sampler's 3"):
        ResumableBatchSampler(ROWS, 3, seed=SEED).load_state_dict(state)
    with pytest.raises(ValueError, match="global_batch=4 does not match this sampler's 8"):
        ResumableBatchSampler(ROWS, 4, num_replicas=2, rank=1, seed=SEED).load_state_dict(state)


def test_only_planned_frames_are_read(one_size: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One byte lookup per batch, for each sample exactly its kept frames, plus next frames of difference clips."""
    dataset = _dataset(one_size, "pretrain", "uniform")
    request = BatchRequest((2, 0, 1, 3, 2), (0, 1, 2, 3, 4), SEED, EPOCH)  # item 2 twice, with other draws
    plans = dataset.plans(request)
    calls: list[tuple[list[int], list[list[int]]]] = []
    real = ShardReader.frame_arrays_many

    def spy(self: ShardReader, items: Sequence[int], frame_ids: Sequence[Sequence[int]]) -> list[np.ndarray]:
        calls.append((list(items), [list(ids) for ids in frame_ids]))
        return real(self, items, frame_ids)

    monkeypatch.setattr(ShardReader, "frame_arrays_many", spy)
    dataset[request]
    assert calls == [(list(request.indices), [plan.frames_needed() for plan in plans])]
    kinds = set()
    for index, plan, needed in zip(request.indices, plans, calls[0][1], strict=True):
        n = FRAMES[index % 4]
        expected: set[int] = set()
        for start, clip in zip(uniform_clip_starts(n / 25, 2.56, 3), plan.clips, strict=True):
            first, stop = clip_frame_range(start, 2.56, n, 25.0)
            kept = uniform_temporal_subsample(first, stop, 4)
            expected.update(kept)
            if clip.next_frames is not None:  # the next stored frame; the last frame of the range pairs backwards
                expected.update(i + 1 if i + 1 < stop else i - 1 for i in kept if stop - first > 1)
            kinds.add(clip.next_frames is not None)
        assert needed == sorted(expected), index
    assert kinds == {True, False}  # both kinds of clip were planned
    assert len(calls[0][1][1]) < 50  # item 0 (50 frames): a few frames only


def test_next_frames_are_read_only_for_difference_clips(one_size: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    requested: list[list[list[int]]] = []
    real = ShardReader.frame_arrays_many

    def spy(self: ShardReader, items: Sequence[int], frame_ids: Sequence[Sequence[int]]) -> list[np.ndarray]:
        requested.append([list(ids) for ids in frame_ids])
        return real(self, items, frame_ids)

    monkeypatch.setattr(ShardReader, "frame_arrays_many", spy)
    request = BatchRequest((1,), (0,))
    for p, expected in ((0.0, [0, 3, 6, 9]), (1.0, [0, 1, 3, 4, 6, 7, 8, 9])):  # 10 frames: one range [0, 10)
        dataset = ShardVideoDataset(
            one_size, frames=4, sampling="uniform", clips_per_video=1, transform=video_pretrain_crop(16, p)
        )
        dataset[request]
        assert requested[-1] == [expected]


DECODER_CASES = [("one_size", "pretrain"), ("one_size", "eval_views"), ("mixed", "none"), ("mixed", "train")]


@needs_simplejpeg
@pytest.mark.parametrize(("folder", "transform"), DECODER_CASES)
def test_simplejpeg_and_torchvision_give_the_same_batches(
    one_size: Path, mixed: Path, folder: str, transform: str
) -> None:
    path = one_size if folder == "one_size" else mixed
    requests = _requests(ResumableBatchSampler(ROWS, 4, seed=SEED))
    batches = {
        decoder: [_dataset(path, transform, jpeg_decoder=decoder)[r] for r in requests]
        for decoder in ("torchvision", "simplejpeg")
    }
    _assert_equal_batch_lists(batches["simplejpeg"], batches["torchvision"])


@pytest.mark.parametrize(("folder", "transform"), DECODER_CASES)
def test_pending_batch_finished_on_the_cpu_equals_the_worker_batch(
    one_size: Path, mixed: Path, folder: str, transform: str
) -> None:
    path = one_size if folder == "one_size" else mixed
    dataset = _dataset(path, transform)
    deferred = _dataset(path, transform, decode_device="cuda")  # what a worker does for a GPU run (no GPU used)
    for request in _requests(ResumableBatchSampler(ROWS, 4, seed=SEED)):
        expected = dataset[request]
        plans = dataset.plans(request)
        by_hand = PendingBatch(dataset.layout, plans, dataset.jpeg_bytes(plans))
        assert len(by_hand.jpegs) == sum(len(p.frames_needed()) for p in plans)
        _assert_equal_batches(by_hand.finish("cpu"), expected)
        pending = deferred[request]
        assert list(pending) == ["pending"] and isinstance(pending["pending"], PendingBatch)
        assert pending["pending"].plans == plans
        _assert_equal_batches(finish_batch(pending, "cpu"), expected)
    assert finish_batch(expected, "cpu") is expected  # a finished batch passes through


GPU_TRANSFORMS: dict[str, tuple[Any, int]] = {  # transform, tolerance in grey levels
    "none": (None, 1),
    "crop": (MultiCrop((RandomCrop(16), RandomCrop((12, 20)))), 1),
    # the CPU resizes uint8 frames with torch's uint8 kernel, the GPU in float32: each rounds once, and the temporal
    # difference rounds once more (half to even), so one more grey level is allowed where both happen
    "pretrain": (video_pretrain_crop(16, 0.5), 2),
}


@pytest.mark.gpu
@pytest.mark.parametrize("transform", list(GPU_TRANSFORMS))
def test_cuda_decode_through_the_loader_equals_the_cpu_batches(one_size: Path, transform: str) -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    t, tolerance = GPU_TRANSFORMS[transform]
    sampler = ResumableBatchSampler(ROWS, 4, seed=SEED)
    sampler.set_epoch(EPOCH)
    datasets = [
        ShardVideoDataset(one_size, frames=4, num_clips=2, transform=t, decode_device=device)
        for device in ("cpu", "cuda")
    ]
    cpu = list(BatchLoader(datasets[0], sampler))
    gpu = list(BatchLoader(datasets[1], sampler, num_workers=2))
    assert len(gpu) == len(cpu) == 3
    for a, b in zip(gpu, cpu, strict=True):
        videos = a["video"] if isinstance(a["video"], list) else [a["video"]]
        assert all(v.is_cuda and v.dtype == torch.uint8 for v in videos)
        _assert_equal_batches(a, b, atol=tolerance)
        if transform == "none":
            assert _frame_numbers(a["video"].cpu()) == _frame_numbers(b["video"])


def _frame_numbers(video: torch.Tensor) -> list[list[list[int]]]:
    return [[[decode_frame_index(f) for f in clip] for clip in sample] for sample in video]


def test_a_transform_that_cannot_be_planned_is_refused(one_size: Path, index_videos: Path) -> None:
    with pytest.raises(TypeError, match="planned before decoding"):
        ShardVideoDataset(one_size, transform=lambda clip: clip)
    with pytest.raises(TypeError, match="planned before decoding"):
        ShardVideoDataset(one_size, transform=Compose((RandomCrop(16), RandomTemporalDifference(1.0))))
    with pytest.raises(TypeError, match="planned before decoding"):
        ShardImageDataset(one_size, transform=MultiCrop((RandomCrop(8), lambda x, g=None: x)))
    with pytest.raises(TypeError, match="planned before decoding"):
        VideoFileDataset(index_videos, [], transform=lambda clip: clip)


@pytest.mark.parametrize("sampling", ["random", "uniform"])
def test_mixed_frame_sizes_with_a_crop_give_one_tensor(mixed: Path, sampling: str) -> None:
    dataset = _dataset(mixed, "pretrain", sampling)
    clips = 2 if sampling == "random" else 3
    for request in _requests(ResumableBatchSampler(ROWS, 4, seed=SEED)):
        batch = dataset[request]
        assert isinstance(batch["video"], torch.Tensor) and batch["video"].shape == (4, clips, 4, 16, 16, 3)
        for row, (index, position) in enumerate(zip(request.indices, request.positions, strict=True)):
            plan, expected = _reference_sample(dataset, index, _generator(position))
            assert (plan.height, plan.width) == ((24, 32) if index % 2 == 0 else (32, 48))
            for c, views in enumerate(expected):
                assert torch.equal(batch["video"][row, c], views[0])


def test_mixed_frame_sizes_without_a_crop_give_a_list(mixed: Path) -> None:
    dataset = _dataset(mixed, "none", "uniform")
    request = BatchRequest((0, 1, 2, 5), (0, 1, 2, 3))
    batch = dataset[request]
    video = batch["video"]
    assert isinstance(video, list)
    assert [tuple(v.shape) for v in video] == [(3, 4, 24, 32, 3), (3, 4, 32, 48, 3)] * 2
    for row, index in enumerate(request.indices):
        _, expected = _reference_sample(dataset, index, _generator(row))
        assert all(torch.equal(video[row][c], views[0]) for c, views in enumerate(expected))
    sample = dataset[1]  # one sample: a plain tensor
    assert sample["video"].shape == (3, 4, 32, 48, 3) and sample["index"] == 1 and sample["label"] == 1
    same = dataset[BatchRequest((0, 2), (0, 1))]["video"]  # one size in the batch: one tensor
    assert isinstance(same, torch.Tensor) and same.shape == (2, 3, 4, 24, 32, 3)


def test_views_of_mixed_sizes_stack_when_the_crops_agree(mixed: Path) -> None:
    dataset = _dataset(mixed, "eval_views", "uniform")
    request = BatchRequest((0, 1, 2), (0, 1, 2))
    video = dataset[request]["video"]
    assert isinstance(video, torch.Tensor) and video.shape == (3, 3, 3, 4, 16, 16, 3)
    for row, index in enumerate(request.indices):
        _, expected = _reference_sample(dataset, index, _generator(row))
        for c, views in enumerate(expected):
            assert all(torch.equal(video[row, c, v], view) for v, view in enumerate(views))


def test_clips_of_one_sample_with_different_sizes_are_refused(one_size: Path) -> None:
    dataset = ShardVideoDataset(one_size, frames=4, num_clips=2, transform=RandomShortSideScale(24, 40))
    with pytest.raises(ValueError, match="clips of sample .* differ in size"):
        for request in _requests(ResumableBatchSampler(ROWS, 4, seed=SEED)):
            dataset[request]


@pytest.mark.parametrize("sampling", ["random", "uniform"])
def test_video_files_give_the_planned_frames_of_the_shards(
    video_shards: Path, index_videos: Path, sampling: str
) -> None:
    items, names = folders_index(index_videos)
    kwargs: dict[str, Any] = {"frames": 8, "num_clips": 2, "sampling": sampling, "clips_per_video": 3}
    shards = ShardVideoDataset(video_shards, jpeg_decoder="torchvision", **kwargs)
    files = VideoFileDataset(index_videos, items, class_names=names, short_side=128, **kwargs)  # as the shards
    request = BatchRequest((2, 0, 1), (4, 5, 6), seed=1, epoch=3)
    plans = shards.plans(request)
    assert files.plans(request) == plans
    batches = [shards[request], files[request]]
    numbers = [[[[decode_frame_index(f) for f in clip] for clip in sample] for sample in b["video"]] for b in batches]
    assert numbers[0] == numbers[1] == [[list(clip.frames) for clip in plan.clips] for plan in plans]
    assert batches[0]["label"].tolist() == batches[1]["label"].tolist() == [1, 0, 0]
    # hand-computed: the 100-frame 30 fps video of class b, clip 0 of the uniform sampling spans [0, 77)
    if sampling == "uniform":
        assert numbers[0][0][0] == [0, 10, 21, 32, 43, 54, 65, 76]
