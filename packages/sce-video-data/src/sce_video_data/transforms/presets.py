"""The augmentations of the SCE paper, with SPEC's values.

Loader stage (per clip or image, uint8, channels last) and device stage (batched float, :class:`BatchAugmentation`).
Every preset is built from frozen dataclasses, so its parameters can be read back and compared to SPEC's tables.
"""

from __future__ import annotations

from sce_video_data.transforms.blur import GaussianBlur
from sce_video_data.transforms.color import ColorJitter, RandomGrayscale, RandomSolarize
from sce_video_data.transforms.crops import (
    CenterCrop,
    RandomCrop,
    RandomResizedCrop,
    RandomShortSideScale,
    ShortSideScale,
)
from sce_video_data.transforms.flip_normalize import Normalize, RandomHorizontalFlip
from sce_video_data.transforms.multiview import Compose, MultiCrop, UniformCrop
from sce_video_data.transforms.pipeline import BatchAugmentation
from sce_video_data.transforms.temporal import RandomTemporalDifference

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "VIDEO_MEAN",
    "VIDEO_STD",
    "image_eval_crop",
    "image_eval_normalization",
    "image_linear_augmentation",
    "image_linear_train_crop",
    "image_multi_crop",
    "image_multicrop_local_view",
    "image_sce_views",
    "image_two_crops",
    "video_eval_crop",
    "video_eval_normalization",
    "video_finetune_augmentation",
    "video_linear_augmentation",
    "video_pretrain_crop",
    "video_sce_views",
    "video_train_crop",
]

VIDEO_MEAN: tuple[float, float, float] = (0.45, 0.45, 0.45)
VIDEO_STD: tuple[float, float, float] = (0.225, 0.225, 0.225)
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
_LOCAL_CROPS: tuple[tuple[int, tuple[float, float]], ...] = (
    (192, (0.172, 0.86)),
    (160, (0.143, 0.715)),
    (128, (0.114, 0.571)),
    (96, (0.086, 0.429)),
)


def _sce_views(
    jitter: tuple[float, float, float, float], normalize: Normalize, stratified: bool
) -> tuple[BatchAugmentation, BatchAugmentation]:
    def view(blur_p: float, solarize_p: float | None) -> BatchAugmentation:
        return BatchAugmentation(
            color_jitter=ColorJitter(*jitter, p=0.8, stratified=stratified),
            grayscale=RandomGrayscale(p=0.2, stratified=stratified),
            blur=GaussianBlur(kernel_size=23, sigma=(0.1, 2.0), p=blur_p, stratified=stratified),
            solarize=None if solarize_p is None else RandomSolarize(0.5, p=solarize_p, stratified=stratified),
            flip=RandomHorizontalFlip(p=0.5, stratified=stratified),
            normalize=normalize,
        )

    return view(1.0, None), view(0.1, 0.2)


def video_sce_views(
    color_strength: float = 1.0, stratified: bool = True
) -> tuple[BatchAugmentation, BatchAugmentation]:
    """The two asymmetric video views (SPEC 4.3, ``kinetics_sce_color_strength_1``).

    Jitter ``(0.8, 0.8, 0.4, 0.2) * color_strength`` with p=0.8, grayscale 0.2, blur 1.0 (view 0) / 0.1 (view 1),
    solarize 0.2 on view 1 only, flip 0.5, normalisation 0.45 / 0.225. ``color_strength=0.5`` gives
    ``kinetics_sce.yaml`` (jitter 0.4, 0.4, 0.2, 0.1).
    """
    if color_strength < 0:
        raise ValueError(f"color_strength must be non-negative, got {color_strength}")
    jitter = (0.8 * color_strength, 0.8 * color_strength, 0.4 * color_strength, 0.2 * color_strength)
    return _sce_views(jitter, video_eval_normalization(), stratified)


def image_sce_views(stratified: bool = True) -> tuple[BatchAugmentation, BatchAugmentation]:
    """The two asymmetric image views (SPEC 3.3): jitter (0.4, 0.4, 0.2, 0.1), blur 1.0 / 0.1, solarize on view 1."""
    return _sce_views((0.4, 0.4, 0.2, 0.1), image_eval_normalization(), stratified)


def image_multicrop_local_view(stratified: bool = True) -> BatchAugmentation:
    """Device stage of every local crop of multi-crop (SPEC 3.3): blur p=0.5 and solarize p=0.2."""
    return BatchAugmentation(
        color_jitter=ColorJitter(0.4, 0.4, 0.2, 0.1, p=0.8, stratified=stratified),
        grayscale=RandomGrayscale(p=0.2, stratified=stratified),
        blur=GaussianBlur(kernel_size=23, sigma=(0.1, 2.0), p=0.5, stratified=stratified),
        solarize=RandomSolarize(0.5, p=0.2, stratified=stratified),
        flip=RandomHorizontalFlip(p=0.5, stratified=stratified),
        normalize=image_eval_normalization(),
    )


def video_finetune_augmentation(stratified: bool = True) -> BatchAugmentation:
    """Finetuning device stage (SPEC 5.3): jitter (0.4, 0.4, 0.4, 0.1) p=0.8, grayscale 0.2, flip 0.5, 0.45/0.225."""
    return BatchAugmentation(
        color_jitter=ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8, stratified=stratified),
        grayscale=RandomGrayscale(p=0.2, stratified=stratified),
        flip=RandomHorizontalFlip(p=0.5, stratified=stratified),
        normalize=video_eval_normalization(),
    )


def video_linear_augmentation(stratified: bool = True) -> BatchAugmentation:
    """Video linear-evaluation device stage (SPEC 5.2): flip 0.5, normalisation 0.45 / 0.225."""
    return BatchAugmentation(
        flip=RandomHorizontalFlip(p=0.5, stratified=stratified), normalize=video_eval_normalization()
    )


def image_linear_augmentation(stratified: bool = True) -> BatchAugmentation:
    """Image linear-evaluation device stage (SPEC 5.1): flip 0.5, ImageNet normalisation."""
    return BatchAugmentation(
        flip=RandomHorizontalFlip(p=0.5, stratified=stratified), normalize=image_eval_normalization()
    )


def video_eval_normalization() -> Normalize:
    """Video normalisation: mean 0.45, std 0.225 on every channel (SPEC 4.3, 5.2, 5.3)."""
    return Normalize(VIDEO_MEAN, VIDEO_STD)


def image_eval_normalization() -> Normalize:
    """ImageNet normalisation (SPEC 3.3, 5.1)."""
    return Normalize(IMAGENET_MEAN, IMAGENET_STD)


def video_pretrain_crop(
    size: int = 224, temporal_difference_p: float = 0.2, scale: tuple[float, float] = (0.2, 0.766)
) -> Compose:
    """Loader stage of a pretraining clip (SPEC 4.2): temporal difference p=0.2, then a 224 crop, scale (0.2, 0.766).

    In a dataset the temporal difference pairs each kept frame with the next stored frame (SPEC 4.2).
    """
    crop = RandomResizedCrop(size, scale=scale, ratio=(3.0 / 4.0, 4.0 / 3.0), antialias=False)
    if temporal_difference_p == 0:
        return Compose((crop,))
    return Compose((RandomTemporalDifference(temporal_difference_p), crop))


def video_train_crop(size: int = 224, min_size: int = 256, max_size: int = 320) -> Compose:
    """Loader stage of linear evaluation and finetuning (SPEC 5.2, 5.3): short side in [256, 320], random 224 crop."""
    return Compose((RandomShortSideScale(min_size, max_size), RandomCrop(size)))


def video_eval_crop(spatial_idx: int, size: int = 256) -> Compose:
    """Loader stage of one test view (SPEC 5.2): short side 256, then crop ``spatial_idx`` (0, 1, 2) of size 256."""
    return Compose((ShortSideScale(size), UniformCrop(size, spatial_idx)))


def video_eval_views(size: int = 256, crops: int = 3, crop_size: int | None = None) -> MultiCrop:
    """The test views of a clip (SPEC 5.2): short side ``size``, then 3 uniform crops (or the centre one).

    The crops are ``crop_size`` square (``size`` when None: 256 crops at short side 256, as SPEC 5.2).
    """
    if crops not in (1, 3):
        raise ValueError(f"crops must be 1 (centre) or 3 (left, centre, right), got {crops}")
    side = size if crop_size is None else crop_size
    if not 0 < side <= size:
        raise ValueError(f"crop_size must be in [1, size={size}], got {crop_size}")
    indices = (1,) if crops == 1 else (0, 1, 2)
    return MultiCrop(tuple(Compose((ShortSideScale(size), UniformCrop(side, i))) for i in indices))


def image_two_crops(size: int = 224) -> MultiCrop:
    """Loader stage of the two image views (SPEC 3.3): two crops 224, scale (0.2, 1.0), antialiased."""
    crop = RandomResizedCrop(size, scale=(0.2, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0), antialias=True)
    return MultiCrop((crop, crop))


def image_multi_crop() -> MultiCrop:
    """Loader stage of multi-crop (SPEC 3.3): 2 global crops 224 plus locals 192, 160, 128, 96 (6 crops)."""
    ratio = (3.0 / 4.0, 4.0 / 3.0)
    local = tuple(RandomResizedCrop(size, scale=scale, ratio=ratio, antialias=True) for size, scale in _LOCAL_CROPS)
    return MultiCrop(image_two_crops().crops + local)


def image_linear_train_crop(size: int = 224) -> RandomResizedCrop:
    """Image linear-evaluation training crop (SPEC 5.1): torchvision defaults, scale (0.08, 1.0)."""
    return RandomResizedCrop(size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0), antialias=True)


def image_eval_crop(resize: int = 256, size: int = 224) -> Compose:
    """Image validation (SPEC 5.1): short side 256 (antialiased), centre crop 224."""
    return Compose((ShortSideScale(resize, antialias=True), CenterCrop(size)))
