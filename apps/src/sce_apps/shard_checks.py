"""Warn when shards store frames smaller than the protocol a recipe assumes.

``sce-shards build`` stores frames at short side 128 by default, which is right for the demo's small crops but not
for the papers' protocols: the authors cropped 224 px from videos downscaled to short side 256 and evaluated at short
side 256. Each program derives the short side its shards need from its existing settings and warns once, on rank 0,
naming the folder and the ``sce-shards build --short-side`` value that stores enough:

* pretraining on ``video_shards`` / ``image_shards``: ``round(data.crop_size × 256 / 224)`` (256 for 224 crops,
  128 for 112 crops);
* linear evaluation and finetuning: ``data.eval_short_side`` (256 in the paper recipes), for the training shards and
  the test shards;
* feature extraction: ``features.size``, the short side of its views.

A build that kept the source size (``--short-side 0``, e.g. UCF101 / HMDB51 at their native 320×240) is not reported:
the programs scale it as the authors' loaders did, and rebuilding cannot add detail the source does not have.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from sce_video_data.shards.check import low_resolution_warning

if TYPE_CHECKING:
    from sce_apps.classify.config import ClassifyConfig
    from sce_apps.extract.program import ExtractConfig
    from sce_apps.pretrain.config import DataConfig

__all__ = [
    "LowResolutionShardsWarning",
    "check_classify_shards",
    "check_extract_shards",
    "check_pretrain_shards",
    "pretrain_short_side",
    "warn_low_resolution",
]

PROTOCOL_SHORT_SIDE = 256
"""The short side the papers' 224-px crops are taken from (Kinetics-400 downscaled to 256, ImageNet ≥ 256)."""
PROTOCOL_CROP = 224


class LowResolutionShardsWarning(UserWarning):
    """Shards store frames with a smaller short side than the recipe's protocol assumes."""


def pretrain_short_side(crop_size: int) -> int:
    """Short side that pretraining crops of ``crop_size`` assume: the papers' 256 per 224 of crop."""
    return round(crop_size * PROTOCOL_SHORT_SIDE / PROTOCOL_CROP)


def warn_low_resolution(folders: list[tuple[str, int, str]], rank: int = 0) -> list[str]:
    """Warn (:class:`LowResolutionShardsWarning`) about each shard folder stored too small; only on rank 0.

    Args:
        folders: ``(shard folder, short side needed, what needs it)``; empty folder names are skipped.
        rank: The process's global rank; other ranks neither read the folders nor warn.

    Returns:
        The messages (one line each), empty on other ranks.
    """
    if rank != 0:
        return []
    messages = [low_resolution_warning(path, needed, what) for path, needed, what in folders if path]
    found = [message for message in messages if message is not None]
    for message in found:
        warnings.warn(message, LowResolutionShardsWarning, stacklevel=3)
    return found


def check_pretrain_shards(data: DataConfig, rank: int = 0) -> list[str]:
    """``sce pretrain``: shards need short side ``round(data.crop_size × 256 / 224)`` (video or image shards)."""
    if data.format not in ("video_shards", "image_shards"):
        return []
    needed = pretrain_short_side(data.crop_size)
    return warn_low_resolution([(data.path, needed, f"pretraining with data.crop_size={data.crop_size}")], rank)


def check_classify_shards(config: ClassifyConfig, test_only: bool = False, rank: int = 0) -> list[str]:
    """``sce linear-eval`` / ``sce finetune``: training and test shards need ``data.eval_short_side``."""
    data = config.data
    name = "linear evaluation" if config.protocol == "linear" else "finetuning"
    what = f"{name} with data.eval_short_side={data.eval_short_side}"
    folders = [] if test_only else [(data.train, data.eval_short_side, f"{what} (data.train)")]
    folders.append((data.test, data.eval_short_side, f"{what} (data.test)"))
    return warn_low_resolution(folders, rank)


def check_extract_shards(config: ExtractConfig, rank: int = 0) -> list[str]:
    """``sce extract-features``: the shards need the views' short side, ``features.size``."""
    what = f"feature extraction with features.size={config.size}"
    return warn_low_resolution([(config.shards, config.size, what)], rank)
