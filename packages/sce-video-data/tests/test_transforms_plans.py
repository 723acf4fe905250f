"""Planned loader transforms: ``plan_clip(t, H, W, g)`` applied equals ``t(x, g)`` for identically seeded generators."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from sce_video_data.transforms import (
    CenterCrop,
    Compose,
    MultiCrop,
    RandomCrop,
    RandomResizedCrop,
    RandomShortSideScale,
    RandomTemporalDifference,
    ShortSideScale,
    SpatialPlan,
    UniformCrop,
    image_eval_crop,
    image_multi_crop,
    image_two_crops,
    plan_clip,
    plan_spatial,
    video_eval_crop,
    video_eval_views,
    video_pretrain_crop,
    video_train_crop,
)
from sce_video_data.transforms.plans import CropOp, ResizeOp, is_plannable

TRANSFORMS: dict[str, Any] = {
    "rrc": RandomResizedCrop(12),
    "rrc_rect_antialias": RandomResizedCrop((10, 14), scale=(0.3, 1.0), antialias=True),
    "rrc_fallback": RandomResizedCrop(8, scale=(0.95, 1.0), ratio=(3.0, 4.0)),  # no box fits: central box
    "rrc_no_tries": RandomResizedCrop(8, tries=0),
    "short_side": ShortSideScale(16),
    "short_side_up": ShortSideScale(40, antialias=True),
    "random_short_side": RandomShortSideScale(12, 30),
    "random_crop": RandomCrop(10),
    "random_crop_rect": RandomCrop((8, 13)),
    "center_crop": CenterCrop(11),
    "center_crop_rect": CenterCrop((9, 14)),
    "uniform_0": UniformCrop(12, 0),
    "uniform_1": UniformCrop(12, 1),
    "uniform_2": UniformCrop(12, 2),
    "video_train_crop": video_train_crop(12, 16, 24),
    "video_eval_crop": video_eval_crop(2, 16),
    "image_eval_crop": image_eval_crop(18, 12),
    "chain": Compose((RandomShortSideScale(18, 26), RandomCrop(16), RandomResizedCrop(8), CenterCrop(6))),
    "empty_compose": Compose(()),
    "video_pretrain_crop_p0": video_pretrain_crop(12, 0.0),
    "video_eval_views": video_eval_views(16, 3, 12),
    "video_eval_view": video_eval_views(16, 1),
    "image_two_crops": image_two_crops(12),
    "multi_crop": MultiCrop((RandomCrop(8), CenterCrop((10, 6)), Compose((ShortSideScale(14), RandomCrop(9))))),
    "none": None,
}
SIZES = [(24, 32), (32, 24), (21, 27), (19, 19)]  # landscape, portrait, odd, square (H, W)


def _clip(height: int, width: int, seed: int, frames: int = 3) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (frames, height, width, 3), dtype=torch.uint8, generator=generator)


def _planned(transform: Any, x: torch.Tensor, seed: int) -> tuple[bool, list[torch.Tensor], torch.Generator]:
    generator = torch.Generator().manual_seed(seed)
    difference, views = plan_clip(transform, x.shape[-3], x.shape[-2], generator)
    assert all(isinstance(v, SpatialPlan) and v.in_size == tuple(x.shape[-3:-1]) for v in views)
    outputs = [view.apply(x) for view in views]
    assert [tuple(o.shape[-3:-1]) for o in outputs] == [v.size for v in views]
    return difference, outputs, generator


def _direct(transform: Any, x: torch.Tensor, seed: int) -> tuple[list[torch.Tensor], torch.Generator]:
    generator = torch.Generator().manual_seed(seed)
    out = x if transform is None else transform(x, generator)
    return (out if isinstance(out, list) else [out]), generator


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_plan_equals_the_transform(name: str) -> None:
    transform = TRANSFORMS[name]
    for k, (height, width) in enumerate(SIZES):
        for seed in range(4):
            x = _clip(height, width, 100 * k + seed)
            difference, planned, g1 = _planned(transform, x, seed)
            direct, g2 = _direct(transform, x, seed)
            assert not difference
            assert len(planned) == len(direct)
            for a, b in zip(planned, direct, strict=True):
                assert a.shape == b.shape and torch.equal(a, b), (name, height, width, seed)
            assert torch.equal(g1.get_state(), g2.get_state())  # the same numbers drawn, no more, no fewer
    assert is_plannable(transform)


@pytest.mark.parametrize(
    ("transform", "size"),
    [(image_two_crops(12), (30, 22)), (image_eval_crop(18, 12), (30, 22)), (image_multi_crop(), (240, 260))],
)
def test_plan_equals_the_transform_on_images(transform: Any, size: tuple[int, int]) -> None:
    image = _clip(*size, 0, frames=1)[0]
    _, planned, g1 = _planned(transform, image, 5)
    direct, g2 = _direct(transform, image, 5)
    assert len(planned) == len(direct) and all(torch.equal(a, b) for a, b in zip(planned, direct, strict=True))
    assert torch.equal(g1.get_state(), g2.get_state())


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0])
def test_temporal_difference_flag_is_drawn_where_it_stands(p: float) -> None:
    """The flag is the transform's own draw, and the crop after it draws what the transform's crop draws."""
    transform = video_pretrain_crop(12, p)
    flags = []
    for seed in range(12):
        x = _clip(24, 32, seed, frames=4)
        difference, planned, g1 = _planned(transform, x, seed)
        direct, g2 = _direct(transform, x, seed)
        # the transform differences consecutive frames of x: apply the planned crop to that to compare
        diff = RandomTemporalDifference(1.0)(x)
        source = diff if difference else x
        generator = torch.Generator().manual_seed(seed)
        _, views = plan_clip(transform, 24, 32, generator)
        assert torch.equal(views[0].apply(source), direct[0])
        assert torch.equal(planned[0], views[0].apply(x))
        assert torch.equal(g1.get_state(), g2.get_state())
        flags.append(difference)
    assert flags == [torch.rand(1, generator=torch.Generator().manual_seed(s)).item() < p for s in range(12)]
    if p == 0.5:
        assert any(flags) and not all(flags)


def test_temporal_difference_after_a_spatial_step_is_refused() -> None:
    late = Compose((RandomCrop(8), RandomTemporalDifference(1.0)))
    with pytest.raises(TypeError, match="RandomTemporalDifference must come before the spatial steps"):
        plan_clip(late, 24, 32, torch.Generator().manual_seed(0))
    assert not is_plannable(late)
    assert is_plannable(Compose((RandomTemporalDifference(0.5), RandomCrop(8))))
    with pytest.raises(TypeError):
        plan_clip(MultiCrop((Compose((RandomTemporalDifference(1.0), RandomCrop(8))),)), 24, 32, None)


def test_arbitrary_callables_are_refused() -> None:
    for transform in (lambda x, g=None: x, Compose((RandomCrop(8), lambda x, g=None: x)), MultiCrop((torch.flip,))):
        assert not is_plannable(transform)
        with pytest.raises(TypeError, match="cannot be planned before decoding"):
            plan_clip(transform, 24, 32, None)


def test_plans_that_do_not_fit_the_frames_raise_like_the_transform() -> None:
    for transform in (RandomCrop(40), CenterCrop((10, 40)), UniformCrop(30, 1)):
        assert is_plannable(transform)  # plannable, only not for these frames
        with pytest.raises(ValueError, match="larger than"):
            plan_clip(transform, 24, 32, torch.Generator().manual_seed(0))
        with pytest.raises(ValueError, match="larger than"):
            transform(_clip(24, 32, 0))


def test_spatial_plan_operations_by_hand() -> None:
    plan = plan_spatial(Compose((ShortSideScale(12), CenterCrop(10))), 24, 32, None)
    assert plan == SpatialPlan((ResizeOp(12, 16), CropOp(1, 3, 10, 10)), (24, 32), (10, 10))
    assert plan.leading_crop is None
    uniform = plan_spatial(UniformCrop(20, 2), 24, 32, None)
    assert uniform.ops == (CropOp(2, 12, 20, 20),) and uniform.leading_crop == CropOp(2, 12, 20, 20)
    with pytest.raises(ValueError, match=r"plan made for \(24, 32\) frames"):
        plan.apply(_clip(24, 30, 0))
    assert plan_spatial(None, 5, 7, None) == SpatialPlan((), (5, 7), (5, 7))
