"""Each batched kernel with fixed per-sample parameters equals torchvision applied per sample and per frame."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torchvision.transforms.v2.functional as TF  # noqa: N812

from sce_video_data.transforms import (
    Normalize,
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    gaussian_blur,
    hflip,
    hsv_to_rgb,
    rgb_to_grayscale,
    rgb_to_hsv,
    solarize,
)

ATOL = 1e-5


def _batch(video: bool, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    shape = (3, 3, 2, 24, 28) if video else (3, 3, 24, 28)
    x = torch.rand(shape, generator=g)
    x[0, :, ..., :4, :4] = 0.5  # gray pixels (hue undefined)
    x[1, 0, ..., 0, :] = 1.0  # saturated values
    return x


def _per_frame(x: torch.Tensor, fn: Callable[[torch.Tensor, int], torch.Tensor]) -> torch.Tensor:
    """Apply ``fn(frame (C, H, W), sample_index)`` to every frame of every sample."""
    if x.ndim == 4:
        return torch.stack([fn(x[b], b) for b in range(x.shape[0])])
    return torch.stack([torch.stack([fn(x[b, :, t], b) for t in range(x.shape[2])], dim=1) for b in range(x.shape[0])])


FACTORS = torch.tensor([0.3, 1.0, 1.7])
HUES = torch.tensor([-0.45, 0.0, 0.3])


@pytest.mark.parametrize("video", [False, True])
@pytest.mark.parametrize(
    ("ours", "theirs", "factors"),
    [
        (adjust_brightness, TF.adjust_brightness, FACTORS),
        (adjust_contrast, TF.adjust_contrast, FACTORS),
        (adjust_saturation, TF.adjust_saturation, FACTORS),
        (adjust_hue, TF.adjust_hue, HUES),
    ],
    ids=["brightness", "contrast", "saturation", "hue"],
)
def test_color_kernels_match_torchvision(video: bool, ours, theirs, factors: torch.Tensor) -> None:
    x = _batch(video)
    expected = _per_frame(x, lambda f, b: theirs(f, float(factors[b])))
    torch.testing.assert_close(ours(x, factors), expected, atol=ATOL, rtol=0)


def test_contrast_uses_one_mean_per_frame() -> None:
    x = _batch(True)
    x[:, :, 1] *= 0.2  # a much darker second frame: a per-clip mean would differ
    expected = _per_frame(x, lambda f, b: TF.adjust_contrast(f, float(FACTORS[b])))
    torch.testing.assert_close(adjust_contrast(x, FACTORS), expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("video", [False, True])
def test_grayscale_solarize_flip_match_torchvision(video: bool) -> None:
    x = _batch(video)
    gray3 = _per_frame(x, lambda f, b: TF.rgb_to_grayscale(f, num_output_channels=3))
    torch.testing.assert_close(rgb_to_grayscale(x, 3), gray3, atol=ATOL, rtol=0)
    torch.testing.assert_close(rgb_to_grayscale(x, 1), gray3[:, :1], atol=ATOL, rtol=0)
    torch.testing.assert_close(solarize(x, 0.5), _per_frame(x, lambda f, b: TF.solarize(f, 0.5)), atol=0, rtol=0)
    torch.testing.assert_close(hflip(x), _per_frame(x, lambda f, b: TF.horizontal_flip(f)), atol=0, rtol=0)


@pytest.mark.parametrize("video", [False, True])
def test_normalize_matches_torchvision(video: bool) -> None:
    x = _batch(video)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    expected = _per_frame(x, lambda f, b: TF.normalize(f, list(mean), list(std)))
    torch.testing.assert_close(Normalize(mean, std)(x), expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("video", [False, True])
def test_gaussian_blur_per_sample_sigma_matches_torchvision(video: bool) -> None:
    x = _batch(video)
    sigma = torch.tensor([0.1, 0.77, 2.0])
    expected = _per_frame(x, lambda f, b: TF.gaussian_blur(f, [23, 23], [float(sigma[b])] * 2))
    torch.testing.assert_close(gaussian_blur(x, sigma, 23), expected, atol=ATOL, rtol=0)


def test_hsv_round_trip_and_gray_pixels() -> None:
    x = _batch(False)
    hsv = rgb_to_hsv(x)
    assert bool((hsv[0, 0, :4, :4] == 0).all()) and bool((hsv[0, 1, :4, :4] == 0).all())
    torch.testing.assert_close(hsv_to_rgb(hsv), x, atol=ATOL, rtol=0)


def test_bad_inputs_raise_value_error() -> None:
    with pytest.raises(ValueError, match="floating"):
        adjust_brightness(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), torch.ones(2))
    with pytest.raises(ValueError, match="one parameter per sample"):
        adjust_brightness(torch.zeros(2, 3, 8, 8), torch.ones(3))
    with pytest.raises(ValueError, match="kernel_size 23"):
        gaussian_blur(torch.zeros(2, 3, 8, 8), torch.ones(2), 23)
    with pytest.raises(ValueError, match="positive"):
        gaussian_blur(torch.zeros(2, 3, 30, 30), torch.tensor([1.0, 0.0]), 23)
    with pytest.raises(ValueError, match="channels"):
        Normalize((0.5,) * 3, (0.2,) * 3)(torch.zeros(2, 1, 8, 8))
