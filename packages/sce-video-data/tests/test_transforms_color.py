"""Random batched transforms: jitter order and factors, probabilities, sharing across frames, reproducibility."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision.transforms.v2.functional as TF  # noqa: N812

from sce_video_data.transforms import (
    ColorJitter,
    GaussianBlur,
    JitterParams,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomSolarize,
    apply_color_jitter,
    apply_mask,
    video_sce_views,
)

TV_OPS = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue)


def _clips(batch: int = 4, frames: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 3, frames, 24, 24, generator=torch.Generator().manual_seed(seed))


def test_apply_color_jitter_follows_each_samples_order() -> None:
    x = _clips()
    factors = torch.tensor([[0.5, 1.5, 0.2, 0.1], [1.2, 0.6, 1.8, -0.3], [0.9, 1.1, 0.0, 0.45], [1.4, 0.3, 1.3, -0.2]])
    order = torch.tensor([[3, 1, 0, 2], [0, 1, 2, 3], [2, 3, 1, 0], [1, 0, 3, 2]])
    apply = torch.tensor([True, True, False, True])
    out = apply_color_jitter(x, JitterParams(apply, factors, order))
    for b in range(4):
        for t in range(x.shape[2]):
            ref = x[b, :, t]
            if apply[b]:
                for op in order[b].tolist():
                    ref = TV_OPS[op](ref, float(factors[b, op]))
            torch.testing.assert_close(out[b, :, t], ref, atol=1e-5, rtol=0)


def test_color_jitter_factor_ranges_and_orders() -> None:
    params = ColorJitter(0.8, 0.8, 0.4, 0.2, p=1.0).sample(2000, torch.Generator().manual_seed(1))
    f = params.factors
    for col, (lo, hi) in enumerate([(0.2, 1.8), (0.2, 1.8), (0.6, 1.4), (-0.2, 0.2)]):
        assert lo <= float(f[:, col].min()) < lo + 0.05 and hi - 0.05 < float(f[:, col].max()) <= hi
    assert bool((params.order.sort(dim=1).values == torch.arange(4)).all())
    assert len({tuple(row) for row in params.order.tolist()}) == 24  # every permutation occurs
    strong = ColorJitter(brightness=1.5).sample(500, torch.Generator().manual_seed(2))
    assert float(strong.factors[:, 0].min()) >= 0.0 and strong.enabled == (True, False, False, False)


def test_disabled_operations_are_identity() -> None:
    x = _clips()
    assert torch.equal(ColorJitter(p=1.0)(x, torch.Generator().manual_seed(0)), x)


@pytest.mark.parametrize("p", [0.1, 0.2, 0.5, 0.8])
def test_stratified_mask_counts_and_rate(p: float) -> None:
    g = torch.Generator().manual_seed(3)
    counts = [int(apply_mask(13, p, g).sum()) for _ in range(2000)]
    assert set(counts) <= {math.floor(13 * p), math.ceil(13 * p)}
    assert abs(sum(counts) / (13 * 2000) - p) < 0.01


def test_bernoulli_mask_rate() -> None:
    g = torch.Generator().manual_seed(4)
    masks = torch.stack([apply_mask(16, 0.2, g, stratified=False) for _ in range(2000)])
    assert abs(float(masks.float().mean()) - 0.2) < 0.01
    assert len({int(m.sum()) for m in masks}) > 3  # counts vary, unlike the stratified rule


def test_random_transforms_apply_to_exactly_p_times_b_samples() -> None:
    x = _clips(batch=10)
    g = torch.Generator().manual_seed(5)
    gray = RandomGrayscale(p=0.2)(x, g)
    changed = (gray != x).flatten(1).any(dim=1)
    assert int(changed.sum()) == 2
    assert bool((gray[changed][:, 0] == gray[changed][:, 1]).all())
    flipped = RandomHorizontalFlip(p=0.5)(x, g)
    is_flip = torch.tensor([torch.equal(flipped[b], x[b].flip(-1)) for b in range(10)])
    assert int(is_flip.sum()) == 5 and bool((flipped[~is_flip] == x[~is_flip]).all())
    solar = RandomSolarize(0.5, p=0.3)(x, g)
    assert int((solar != x).flatten(1).any(dim=1).sum()) == 3


def test_parameters_shared_across_frames_and_differ_across_clips() -> None:
    frame = torch.rand(1, 3, 1, 24, 24, generator=torch.Generator().manual_seed(6))
    x = frame.expand(8, 3, 4, 24, 24).contiguous()  # 8 identical clips of 4 identical frames
    for view in video_sce_views():
        out = view(x, torch.Generator().manual_seed(7))
        assert bool((out == out[:, :, :1]).all()), "frames of a clip got different parameters"
        distinct = {tuple(out[b].flatten()[:50].tolist()) for b in range(8)}
        assert len(distinct) >= 6, "clips share parameters"


def test_seeded_generator_reproduces_and_input_is_untouched() -> None:
    x = _clips(batch=6)
    before = x.clone()
    view0, view1 = video_sce_views()
    a = view1(x, torch.Generator().manual_seed(11))
    b = view1(x, torch.Generator().manual_seed(11))
    c = view1(x, torch.Generator().manual_seed(12))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(x, before)
    assert torch.equal(view0(x, torch.Generator().manual_seed(1)), view0(x, torch.Generator().manual_seed(1)))


def test_gaussian_blur_probability_one_blurs_everything() -> None:
    x = _clips()
    out = GaussianBlur(p=1.0)(x, torch.Generator().manual_seed(0))
    assert bool((out != x).flatten(1).any(dim=1).all())
    assert float(out.std()) < float(x.std())


@pytest.mark.parametrize(
    "build",
    [
        lambda: ColorJitter(p=1.2),
        lambda: ColorJitter(brightness=-0.1),
        lambda: ColorJitter(hue=0.6),
        lambda: GaussianBlur(kernel_size=22),
        lambda: GaussianBlur(sigma=(2.0, 0.1)),
        lambda: RandomSolarize(threshold=2.0),
        lambda: RandomGrayscale(p=-0.1),
    ],
)
def test_invalid_settings_raise_value_error(build) -> None:
    with pytest.raises(ValueError):
        build()
