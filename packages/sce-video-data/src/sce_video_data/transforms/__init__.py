"""Augmentations for SCE: uint8 crops in the loader, batched photometric transforms on any device.

Loader stage (per clip ``(T, H, W, C)`` or image ``(H, W, C)``, uint8, channels last): crops, resizes and the
temporal difference. Device stage (batched float ``(B, C, T, H, W)`` or ``(B, C, H, W)`` in [0, 1]): colour jitter,
grayscale, blur, solarize, flip, normalisation, with per-sample parameters from a ``torch.Generator`` shared by every
frame of a clip. See SPEC 3.3, 4.2-4.3 and 5.1-5.3, and :mod:`.presets` for the paper's settings.
"""

from __future__ import annotations

from sce_video_data.transforms.blur import GaussianBlur, gaussian_blur
from sce_video_data.transforms.color import (
    ColorJitter,
    JitterParams,
    RandomGrayscale,
    RandomSolarize,
    apply_color_jitter,
)
from sce_video_data.transforms.crops import (
    CenterCrop,
    RandomCrop,
    RandomResizedCrop,
    RandomShortSideScale,
    ShortSideScale,
)
from sce_video_data.transforms.flip_normalize import Normalize, RandomHorizontalFlip, to_float_batch
from sce_video_data.transforms.functional import (
    adjust_brightness,
    adjust_contrast,
    adjust_saturation,
    hflip,
    rgb_to_grayscale,
    solarize,
)
from sce_video_data.transforms.hsv import adjust_hue, hsv_to_rgb, rgb_to_hsv
from sce_video_data.transforms.multiview import Compose, MultiCrop, UniformCrop, uniform_crop
from sce_video_data.transforms.params import apply_mask
from sce_video_data.transforms.pipeline import BatchAugmentation
from sce_video_data.transforms.plans import SpatialPlan, plan_clip, plan_spatial
from sce_video_data.transforms.presets import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    VIDEO_MEAN,
    VIDEO_STD,
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
    video_eval_views,
    video_finetune_augmentation,
    video_linear_augmentation,
    video_pretrain_crop,
    video_sce_views,
    video_train_crop,
)
from sce_video_data.transforms.resize import resize
from sce_video_data.transforms.temporal import RandomTemporalDifference, UniformTemporalSubsample, grayscale_difference

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "VIDEO_MEAN",
    "VIDEO_STD",
    "BatchAugmentation",
    "CenterCrop",
    "ColorJitter",
    "Compose",
    "GaussianBlur",
    "JitterParams",
    "MultiCrop",
    "Normalize",
    "RandomCrop",
    "RandomGrayscale",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "RandomShortSideScale",
    "RandomSolarize",
    "RandomTemporalDifference",
    "ShortSideScale",
    "SpatialPlan",
    "UniformCrop",
    "UniformTemporalSubsample",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_hue",
    "adjust_saturation",
    "apply_color_jitter",
    "apply_mask",
    "gaussian_blur",
    "grayscale_difference",
    "hflip",
    "hsv_to_rgb",
    "image_eval_crop",
    "image_eval_normalization",
    "image_linear_augmentation",
    "image_linear_train_crop",
    "image_multi_crop",
    "image_multicrop_local_view",
    "image_sce_views",
    "image_two_crops",
    "plan_clip",
    "plan_spatial",
    "resize",
    "rgb_to_grayscale",
    "rgb_to_hsv",
    "solarize",
    "to_float_batch",
    "uniform_crop",
    "video_eval_crop",
    "video_eval_views",
    "video_eval_normalization",
    "video_finetune_augmentation",
    "video_linear_augmentation",
    "video_pretrain_crop",
    "video_sce_views",
    "video_train_crop",
]
