from __future__ import annotations

import numpy as np
import pytest

from sce_video_data.loading.clip_sampling import (
    clip_frame_indices,
    clip_frame_range,
    random_clip_starts,
    uniform_clip_starts,
    uniform_temporal_subsample,
)


def test_random_starts_are_uniform_in_the_valid_range() -> None:
    assert random_clip_starts(10.0, 2.56, 2, [0.5, 0.25]) == pytest.approx([3.72, 1.86])
    assert random_clip_starts(2.0, 2.56, 2, [0.9, 0.1]) == [0.0, 0.0]  # short video: clamped to 0
    with pytest.raises(ValueError, match="uniforms"):
        random_clip_starts(10.0, 2.56, 2, [0.5])


def test_uniform_starts_match_spec_5_2() -> None:
    starts = uniform_clip_starts(10.0, 2.56, 10)
    assert starts == pytest.approx([i * 7.44 / 9 for i in range(10)])
    assert starts[0] == 0.0 and starts[-1] == pytest.approx(7.44)
    assert uniform_clip_starts(1.0, 2.56, 3) == [0.0, 0.0, 0.0]
    assert uniform_clip_starts(10.0, 2.56, 1) == [0.0]


def test_clip_frame_range_hand_computed() -> None:
    assert clip_frame_range(1.0, 2.56, 300, 30.0) == (30, 107)  # ceil(30), ceil(106.8)
    assert clip_frame_range(0.0, 2.56, 300, 30.0) == (0, 77)  # ceil(76.8) = 77 frames
    assert clip_frame_range(0.0, 2.56, 20, 25.0) == (0, 20)  # short video: ends at the last frame
    assert clip_frame_range(100.0, 2.56, 10, 25.0) == (9, 10)  # never empty
    times = np.array([0.0, 0.05, 0.06, 0.2, 0.5, 0.51, 0.9, 1.5])
    assert clip_frame_range(0.05, 0.5, 8, 10.0, times) == (1, 6)  # 0.05 <= t < 0.55


def test_uniform_temporal_subsample_truncates_linspace() -> None:
    assert uniform_temporal_subsample(30, 107, 8) == [30, 40, 51, 62, 73, 84, 95, 106]
    assert uniform_temporal_subsample(0, 20, 8) == [0, 2, 5, 8, 10, 13, 16, 19]
    assert uniform_temporal_subsample(0, 3, 8) == [0, 0, 0, 0, 1, 1, 1, 2]  # repeated frames
    with pytest.raises(ValueError):
        uniform_temporal_subsample(5, 5, 8)


def test_clip_frame_indices_combines_both_steps() -> None:
    clips = clip_frame_indices([1.0, 0.0], 2.56, 8, 300, 30.0)
    assert clips == [[30, 40, 51, 62, 73, 84, 95, 106], [0, 10, 21, 32, 43, 54, 65, 76]]


def test_uniform_temporal_subsample_equals_numpy_linspace_truncation() -> None:
    for n in range(1, 120):
        for t in range(1, 33):
            expected = [5 + int(p) for p in np.linspace(0, n - 1, t).astype(np.int64)]
            assert uniform_temporal_subsample(5, 5 + n, t) == expected, (n, t)
