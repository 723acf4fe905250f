"""Data of the evaluation protocols: training clips, multi-view test views, the held-out split, the device stage.

Training (SPEC 5.1-5.3): one random 2.56 s clip per video, short side drawn in [256, 320], random 224 crop (images:
random-resized crop of scale (0.08, 1)); then on the device flip and normalisation (linear evaluation) or colour jitter,
grayscale, flip and normalisation (finetuning). Testing (SPEC 5.2): 10 evenly spaced clips × 3 crops of 256 at short
side 256 per video (images: short side 256, centre crop 224).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import Dataset, Subset

from sce_apps.classify.config import ClassifyDataConfig
from sce_apps.features import item_ids, multiview_dataset
from sce_apps.loaders import decode_device, is_image_data
from sce_video_data import (
    BatchAugmentation,
    Normalize,
    RandomResizedCrop,
    ShardImageDataset,
    ShardVideoDataset,
    image_eval_crop,
    image_eval_normalization,
    image_linear_augmentation,
    to_float_batch,
    video_eval_normalization,
    video_finetune_augmentation,
    video_linear_augmentation,
    video_train_crop,
)

ShardDataset = ShardVideoDataset | ShardImageDataset

GROUP_PATTERN = re.compile(r"_g(\d+)_c\d+", re.IGNORECASE)
"""UCF101 file names (``v_<Class>_g08_c01.avi``): the clips of one group are cut from one long video."""


def train_dataset(data: ClassifyDataConfig, where: str = "cpu") -> ShardDataset:
    """The training split with its loader-stage crop (one random clip per video, SPEC 5.2 / 5.3; images SPEC 5.1).

    ``where`` is the decoding device (:func:`sce_apps.loaders.decode_device`).
    """
    if is_image_data(data.format):
        crop = RandomResizedCrop(data.train_crop_size, scale=data.train_crop_scale, antialias=True)
        return ShardImageDataset(data.train, transform=crop, decode_device=where)
    low, high = data.train_short_side
    return ShardVideoDataset(
        data.train,
        frames=data.frames,
        clip_duration=data.clip_duration,
        num_clips=1,
        sampling="random",
        transform=video_train_crop(data.train_crop_size, low, high),
        decode_device=where,
    )


def eval_dataset(data: ClassifyDataConfig, path: str, where: str = "cpu") -> ShardDataset:
    """A split's test views: ``eval_clips × eval_crops`` per video (SPEC 5.2), one centre crop per image (SPEC 5.1)."""
    if is_image_data(data.format):
        crop = image_eval_crop(data.eval_short_side, data.eval_crop_size)
        return ShardImageDataset(path, transform=crop, decode_device=where)
    return multiview_dataset(
        path,
        frames=data.frames,
        clip_duration=data.clip_duration,
        clips=data.eval_clips,
        size=data.eval_short_side,
        crops=data.eval_crops,
        crop_size=data.eval_crop_size,
        decode_device=where,
    )


def item_labels(dataset: ShardDataset) -> list[int]:
    """The label of every item, read from the shard index (no decoding)."""
    return [int(v) for v in dataset.reader.index.arrays["item_label"]]


def group_key(item_id: str) -> str:
    """Items with the same key are held out together: the UCF101 group of the file name, else the item itself."""
    match = GROUP_PATTERN.search(item_id)
    return f"group-{int(match.group(1))}" if match else f"item-{item_id}"


def take_groups(ids: Sequence[str], labels: Sequence[int], fraction: float, seed: int, *, leave_one: bool) -> list[int]:
    """About ``fraction`` of each class's items, whole groups (:func:`group_key`) at a time, chosen with ``seed``.

    The groups of each class are shuffled and taken until at least ``fraction`` of the class's items are taken (at
    least one group). With ``leave_one`` a class always keeps one group back, so a class of a single group gives
    nothing. Deterministic for a given ``seed``; returns sorted rows.
    """
    by_class: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for row, (item, label) in enumerate(zip(ids, labels, strict=True)):
        by_class[label][group_key(item)].append(row)
    generator = torch.Generator().manual_seed(seed)
    taken_rows: list[int] = []
    for label in sorted(by_class):
        groups = [by_class[label][key] for key in sorted(by_class[label])]
        order = torch.randperm(len(groups), generator=generator).tolist()
        target = fraction * sum(len(g) for g in groups)
        taken = 0
        for position in order[: len(groups) - 1] if leave_one else order:
            if taken >= target:
                break
            taken_rows.extend(groups[position])
            taken += len(groups[position])
    return sorted(taken_rows)


def heldout_split(ids: Sequence[str], labels: Sequence[int], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Split items into (train rows, validation rows): about ``fraction`` of each class, whole groups at a time.

    Every class keeps at least one group for training (:func:`take_groups` with ``leave_one``).

    Raises:
        ValueError: nothing could be held out (every class has a single group).
    """
    val = take_groups(ids, labels, fraction, seed, leave_one=True)
    if not val:
        raise ValueError(
            "data.val=heldout: no validation item could be held out (every class has a single video or group); "
            "use data.val=none or data.val=test"
        )
    held = set(val)
    return [r for r in range(len(ids)) if r not in held], val


@dataclass(frozen=True)
class Splits:
    """The three datasets of a run: training rows, validation (None without) and test (None without)."""

    train: Dataset
    class_names: list[str]
    val: Dataset | None
    val_source: str
    test: Dataset | None


def build_splits(data: ClassifyDataConfig, seed: int, device: torch.device | None = None) -> Splits:
    """Training, validation and test datasets of ``data``; the class names of every split must agree.

    ``device`` is the run's device (``data.decode_device=auto`` decodes on it when it is a GPU).

    Raises:
        ValueError: the splits' class names differ, or the held-out split cannot be made.
    """
    where = decode_device(data.decode_device, device or torch.device("cpu"))
    train = train_dataset(data, where)
    test = eval_dataset(data, data.test, where) if data.test else None
    if test is not None and list(test.class_names) != list(train.class_names):
        raise ValueError(_class_mismatch(data.train, train.class_names, data.test, test.class_names))
    names = list(train.class_names)
    if data.val == "none":
        return Splits(train, names, None, "none", test)
    if data.val == "test":
        return Splits(train, names, test, "test split (the authors' setting, SPEC 8.2)", test)
    rows, val_rows = heldout_split(item_ids(train), item_labels(train), data.val_fraction, seed)
    val = Subset(eval_dataset(data, data.train, where), val_rows)
    source = f"held out: {len(val_rows)} of {len(train)} training items (seed {seed})"
    return Splits(Subset(train, rows), names, val, source, test)


def _class_mismatch(first: str, first_names: Sequence[str], second: str, second_names: Sequence[str]) -> str:
    differing = next((i for i, (a, b) in enumerate(zip(first_names, second_names, strict=False)) if a != b), None)
    detail = (
        f"class {differing} is {first_names[differing]!r} vs {second_names[differing]!r}"
        if differing is not None
        else "one list extends the other"
    )
    return (
        f"data.train {first} has {len(first_names)} classes but data.test {second} has {len(second_names)} "
        f"({detail}); build both splits from the same dataset and class list"
    )


def batch_inputs(batch: dict[str, Tensor]) -> Tensor:
    """The uint8 inputs of a collated batch: ``video`` (training clips come as one clip per sample) or ``image``."""
    if "image" in batch:
        return batch["image"]
    video = batch["video"]
    return video[:, 0] if video.dim() == 6 else video  # (B, 1, T, H, W, 3) -> (B, T, H, W, 3)


def train_augmentation(data: ClassifyDataConfig) -> Callable[[Tensor, torch.Generator | None], Tensor]:
    """The device stage of training (``data.augment``) for ``data.format``: uint8 batch in, normalised float out."""
    image = is_image_data(data.format)
    if data.augment == "none":
        normalize = eval_normalization(data)
        return lambda x, generator: normalize(to_float_batch(x))
    if data.augment == "finetune":
        if image:
            raise ValueError("data.augment=finetune is the video finetuning stage (SPEC 5.3); use linear for images")
        return video_finetune_augmentation()
    augmentation: BatchAugmentation = image_linear_augmentation() if image else video_linear_augmentation()
    return augmentation


def eval_normalization(data: ClassifyDataConfig) -> Normalize:
    """Normalisation of the test views: ImageNet statistics for images, 0.45 / 0.225 for videos."""
    return image_eval_normalization() if is_image_data(data.format) else video_eval_normalization()
