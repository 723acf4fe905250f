"""The presets' parameters, read back and compared with SPEC 3.3, 4.2-4.3 and 5.1-5.3."""

from __future__ import annotations

import pytest

from sce_video_data.transforms import (
    BatchAugmentation,
    RandomCrop,
    RandomResizedCrop,
    RandomShortSideScale,
    RandomTemporalDifference,
    ShortSideScale,
    UniformCrop,
    image_eval_crop,
    image_eval_normalization,
    image_linear_augmentation,
    image_linear_train_crop,
    image_multi_crop,
    image_multicrop_local_view,
    image_sce_views,
    image_two_crops,
    video_eval_crop,
    video_eval_normalization,
    video_finetune_augmentation,
    video_linear_augmentation,
    video_pretrain_crop,
    video_sce_views,
    video_train_crop,
)

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
VIDEO = ((0.45,) * 3, (0.225,) * 3)


def _table(view: BatchAugmentation) -> dict[str, object]:
    """One row per SPEC table line: jitter (b, c, s, h, p), grayscale p, blur (k, sigma, p), solarize, flip, norm."""
    j = view.color_jitter
    return {
        "jitter": None if j is None else (j.brightness, j.contrast, j.saturation, j.hue, j.p),
        "grayscale": None if view.grayscale is None else view.grayscale.p,
        "blur": None if view.blur is None else (view.blur.kernel_size, view.blur.sigma, view.blur.p),
        "solarize": None if view.solarize is None else (view.solarize.threshold, view.solarize.p),
        "flip": None if view.flip is None else view.flip.p,
        "normalize": None if view.normalize is None else (view.normalize.mean, view.normalize.std),
    }


def _sce_rows(jitter: tuple[float, ...], norm: tuple, blur_p: float, solarize: tuple | None) -> dict[str, object]:
    return {
        "jitter": jitter + (0.8,),
        "grayscale": 0.2,
        "blur": (23, (0.1, 2.0), blur_p),
        "solarize": solarize,
        "flip": 0.5,
        "normalize": norm,
    }


def test_video_sce_views_match_spec_4_3() -> None:
    view0, view1 = video_sce_views()
    assert _table(view0) == _sce_rows((0.8, 0.8, 0.4, 0.2), VIDEO, 1.0, None)
    assert _table(view1) == _sce_rows((0.8, 0.8, 0.4, 0.2), VIDEO, 0.1, (0.5, 0.2))
    half = video_sce_views(color_strength=0.5)[0].color_jitter
    assert half is not None and (half.brightness, half.contrast, half.saturation, half.hue) == (0.4, 0.4, 0.2, 0.1)
    assert view0.color_jitter is not None and view0.color_jitter.stratified


def test_image_sce_views_and_local_view_match_spec_3_3() -> None:
    view0, view1 = image_sce_views()
    assert _table(view0) == _sce_rows((0.4, 0.4, 0.2, 0.1), IMAGENET, 1.0, None)
    assert _table(view1) == _sce_rows((0.4, 0.4, 0.2, 0.1), IMAGENET, 0.1, (0.5, 0.2))
    assert _table(image_multicrop_local_view()) == _sce_rows((0.4, 0.4, 0.2, 0.1), IMAGENET, 0.5, (0.5, 0.2))
    assert not image_sce_views(stratified=False)[0].flip.stratified  # type: ignore[union-attr]


def test_evaluation_and_finetuning_device_stages_match_spec_5() -> None:
    empty = {"jitter": None, "grayscale": None, "blur": None, "solarize": None}
    assert _table(video_finetune_augmentation()) == {
        **empty,
        "jitter": (0.4, 0.4, 0.4, 0.1, 0.8),
        "grayscale": 0.2,
        "flip": 0.5,
        "normalize": VIDEO,
    }
    assert _table(video_linear_augmentation()) == {**empty, "flip": 0.5, "normalize": VIDEO}
    assert _table(image_linear_augmentation()) == {**empty, "flip": 0.5, "normalize": IMAGENET}
    norm_v, norm_i = video_eval_normalization(), image_eval_normalization()
    assert (norm_v.mean, norm_v.std) == VIDEO and (norm_i.mean, norm_i.std) == IMAGENET


def test_video_loader_stages_match_spec_4_2_and_5_2() -> None:
    difference, crop = video_pretrain_crop().transforms
    assert difference == RandomTemporalDifference(p=0.2)
    assert crop == RandomResizedCrop(224, scale=(0.2, 0.766), ratio=(0.75, 4 / 3), antialias=False, tries=10)
    assert video_pretrain_crop(temporal_difference_p=0).transforms == (crop,)
    assert tuple(video_train_crop().transforms) == (RandomShortSideScale(256, 320), RandomCrop(224))
    for idx in range(3):
        assert tuple(video_eval_crop(idx).transforms) == (ShortSideScale(256), UniformCrop(256, idx))


@pytest.mark.parametrize(
    ("sizes", "scales"),
    [
        ((224, 224), ((0.2, 1.0),) * 2),
        (
            (224, 224, 192, 160, 128, 96),
            ((0.2, 1.0), (0.2, 1.0), (0.172, 0.86), (0.143, 0.715), (0.114, 0.571), (0.086, 0.429)),
        ),
    ],
    ids=["two_crops", "multi_crop"],
)
def test_image_crops_match_spec_3_3(sizes: tuple[int, ...], scales: tuple[tuple[float, float], ...]) -> None:
    multi = image_two_crops() if len(sizes) == 2 else image_multi_crop()
    assert tuple(c.size for c in multi.crops) == sizes
    assert tuple(c.scale for c in multi.crops) == scales
    assert all(c.ratio == (0.75, 4 / 3) and c.antialias for c in multi.crops)


def test_image_linear_crops_match_spec_5_1() -> None:
    assert image_linear_train_crop() == RandomResizedCrop(224, scale=(0.08, 1.0), ratio=(0.75, 4 / 3), antialias=True)
    resize, center = image_eval_crop().transforms
    assert resize == ShortSideScale(256, antialias=True) and center.size == 224
