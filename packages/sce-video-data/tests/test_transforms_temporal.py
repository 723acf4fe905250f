"""RandomTemporalDifference (SPEC 4.2) and uniform temporal subsampling."""

from __future__ import annotations

import pytest
import torch

from sce_video_data.transforms import RandomTemporalDifference, UniformTemporalSubsample, grayscale_difference


def _gray_clip() -> torch.Tensor:
    """Four flat frames with grey levels 10, 201, 50, 50 (R = G = B)."""
    levels = torch.tensor([10, 201, 50, 50], dtype=torch.uint8)
    return levels.view(4, 1, 1, 1).expand(4, 3, 5, 3).contiguous()


def test_temporal_difference_hand_computed() -> None:
    out = RandomTemporalDifference(p=1.0)(_gray_clip())
    # (10 - 201 + 255) / 2 = 32, (201 - 50 + 255) / 2 = 203, (50 - 50 + 255) / 2 = 127.5 -> 128 (round half to even);
    # the last frame reuses the last difference
    expected = torch.tensor([32, 203, 128, 128], dtype=torch.uint8)
    assert out.shape == (4, 3, 5, 3) and out.dtype == torch.uint8
    assert torch.equal(out, expected.view(4, 1, 1, 1).expand(4, 3, 5, 3))


def test_temporal_difference_uses_luma_weights_on_float_input() -> None:
    frames = torch.zeros(2, 1, 1, 3)
    frames[0, 0, 0] = torch.tensor([100.0, 0.0, 0.0])
    out = grayscale_difference(frames[:1], frames[1:])
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, torch.full((1, 1, 1, 3), (0.2989 * 100 + 255) / 2))


def test_temporal_difference_probability_is_per_clip() -> None:
    clip = _gray_clip()
    g = torch.Generator().manual_seed(0)
    transform = RandomTemporalDifference(p=0.2)
    changed = sum(not torch.equal(transform(clip, g), clip) for _ in range(2000))
    assert 0.18 < changed / 2000 < 0.22
    assert torch.equal(RandomTemporalDifference(p=0.0)(clip), clip)


def test_temporal_difference_rejects_single_frames() -> None:
    with pytest.raises(ValueError, match="T >= 2"):
        RandomTemporalDifference(p=1.0)(_gray_clip()[:1])
    with pytest.raises(ValueError, match="probability"):
        RandomTemporalDifference(p=1.5)


def test_uniform_temporal_subsample_indices() -> None:
    clip = torch.arange(77, dtype=torch.uint8).view(77, 1, 1, 1).expand(77, 2, 2, 3)
    out = UniformTemporalSubsample(8)(clip)
    assert out[:, 0, 0, 0].tolist() == [0, 10, 21, 32, 43, 54, 65, 76]  # linspace(0, 76, 8) truncated
