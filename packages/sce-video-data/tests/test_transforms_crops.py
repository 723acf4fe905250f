"""uint8 crops and resizes of clips (T, H, W, C) and images (H, W, C)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F  # noqa: N812
import torchvision.transforms.v2.functional as TF  # noqa: N812

from sce_video_data.transforms import (
    CenterCrop,
    MultiCrop,
    RandomCrop,
    RandomResizedCrop,
    RandomShortSideScale,
    ShortSideScale,
    UniformCrop,
    image_multi_crop,
    resize,
    uniform_crop,
)


def _clip(t: int = 4, h: int = 60, w: int = 80, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (t, h, w, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def _reference_resize(x: torch.Tensor, size: tuple[int, int], antialias: bool) -> torch.Tensor:
    """Per frame, through float and F.interpolate (the authors' video path)."""
    frames = x.permute(0, 3, 1, 2).float()
    out = F.interpolate(frames, size=size, mode="bilinear", align_corners=False, antialias=antialias)
    return out.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


@pytest.mark.parametrize("antialias", [False, True])
def test_resize_matches_interpolate_within_one_level(antialias: bool) -> None:
    x = _clip()
    out = resize(x, (37, 50), antialias)
    assert out.shape == (4, 37, 50, 3) and out.dtype == torch.uint8
    assert int((out.int() - _reference_resize(x, (37, 50), antialias).int()).abs().max()) <= 1
    image = resize(x[0], (37, 50), antialias)
    assert torch.equal(image, out[0])


def test_random_resized_crop_uses_one_box_for_all_frames() -> None:
    x = _clip()
    rrc = RandomResizedCrop(32)
    top, left, h, w = rrc.sample_box(60, 80, torch.Generator().manual_seed(3))
    out = rrc(x, torch.Generator().manual_seed(3))
    expected = _reference_resize(x[:, top : top + h, left : left + w], (32, 32), antialias=False)
    assert out.shape == (4, 32, 32, 3)
    assert int((out.int() - expected.int()).abs().max()) <= 1


def test_random_resized_crop_box_statistics() -> None:
    rrc = RandomResizedCrop(16, scale=(0.2, 0.766), ratio=(0.75, 4 / 3))
    g = torch.Generator().manual_seed(0)
    areas, ratios = [], []
    for _ in range(1000):
        top, left, h, w = rrc.sample_box(120, 160, g)
        assert 0 <= top <= 120 - h and 0 <= left <= 160 - w
        areas.append(h * w / (120 * 160))
        ratios.append(w / h)
    assert 0.19 < min(areas) < 0.22 and 0.74 < max(areas) < 0.78
    assert min(ratios) > 0.73 and max(ratios) < 1.37
    log_ratios = torch.tensor(ratios).log()
    assert abs(float(log_ratios.mean())) < 0.02  # log-uniform in a range symmetric in log space


@pytest.mark.parametrize(
    ("height", "width", "box"),
    [(100, 100, (0, 0, 100, 100)), (100, 300, (0, 83, 100, 133)), (300, 100, (83, 0, 133, 100))],
)
def test_random_resized_crop_falls_back_to_central_crop(height: int, width: int, box: tuple[int, ...]) -> None:
    never_fits = RandomResizedCrop(8, scale=(1.0, 1.0), ratio=(0.75, 4 / 3), tries=10)
    square = RandomResizedCrop(8, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    rrc = never_fits if height != width else RandomResizedCrop(8, tries=0)
    assert rrc.sample_box(height, width, torch.Generator().manual_seed(0)) == box
    if height == width:
        assert square.sample_box(height, width) == box


def test_short_side_scale_and_random_short_side_scale() -> None:
    x = _clip(t=2, h=60, w=90)
    assert ShortSideScale(40)(x).shape == (2, 40, 60, 3)
    assert ShortSideScale(40)(_clip(t=2, h=90, w=61)).shape == (2, 59, 40, 3)  # floor(90 / 61 * 40) = 59
    g = torch.Generator().manual_seed(0)
    shorts = {RandomShortSideScale(20, 24)(x, g).shape[1] for _ in range(60)}
    assert shorts == {20, 21, 22, 23, 24}


def test_random_crop_is_a_window_of_every_frame() -> None:
    x = _clip()
    out = RandomCrop(20)(x, torch.Generator().manual_seed(1))
    windows = x.unfold(1, 20, 1).unfold(2, 20, 1)  # (T, H', W', C, 20, 20)
    hits = [(i, j) for i in range(41) for j in range(61) if torch.equal(windows[:, i, j].permute(0, 2, 3, 1), out)]
    assert len(hits) == 1
    with pytest.raises(ValueError, match="larger than the frames"):
        RandomCrop(61)(x)


def test_center_crop_matches_torchvision() -> None:
    x = _clip(h=61, w=80)
    ours = CenterCrop((30, 41))(x)
    theirs = TF.center_crop(x.permute(0, 3, 1, 2), [30, 41]).permute(0, 2, 3, 1)
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize(
    ("height", "width", "offsets"),
    [(40, 70, [(0, 0), (0, 15), (0, 30)]), (71, 40, [(0, 0), (16, 0), (31, 0)]), (41, 41, [(1, 0), (1, 1), (1, 1)])],
)
def test_uniform_crop_offsets(height: int, width: int, offsets: list[tuple[int, int]]) -> None:
    x = _clip(t=2, h=height, w=width)
    for idx, (top, left) in enumerate(offsets):
        assert torch.equal(UniformCrop(40, idx)(x), x[:, top : top + 40, left : left + 40])
    if height == width:  # square frames: long-side rule applies to the width, top is ceil(1 / 2)
        assert offsets[0] == (math.ceil(1 / 2), 0)
    assert UniformCrop.all_views(x, 40).shape == (3, 2, 40, 40, 3)
    with pytest.raises(ValueError, match="spatial_idx"):
        uniform_crop(x, 40, 3)


def test_multi_crop_sizes_and_independence() -> None:
    image = _clip(t=1)[0]
    crops = image_multi_crop()(ShortSideScale(256, antialias=True)(image), torch.Generator().manual_seed(0))
    assert [c.shape for c in crops] == [(s, s, 3) for s in (224, 224, 192, 160, 128, 96)]
    assert not torch.equal(crops[0], crops[1])
    two = MultiCrop((RandomResizedCrop(16),) * 3)(_clip(), torch.Generator().manual_seed(0))
    assert len(two) == 3 and all(c.shape == (4, 16, 16, 3) for c in two)


def test_bad_frames_raise_value_error() -> None:
    with pytest.raises(ValueError, match="clip"):
        RandomResizedCrop(8)(torch.zeros(3, 8, 8, dtype=torch.uint8))  # channels first
    with pytest.raises(ValueError, match="scale"):
        RandomResizedCrop(8, scale=(0.5, 0.2))
    with pytest.raises(ValueError, match="size"):
        RandomResizedCrop(0)
