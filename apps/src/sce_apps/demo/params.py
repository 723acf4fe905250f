"""The demo dataset's generation parameters: their validation, and the per-video plans they define."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sce_apps.demo import layout
from sce_apps.demo.record import FORMAT_VERSION
from sce_apps.demo.render import CRF, PRESET
from sce_apps.demo.scenes import GAP_FRACTION, TRAIN_FRACTION, VideoPlan, plan_video
from sce_apps.demo.sources import MAX_CLASSES, PHOTOS, load_digits, photo_size


def check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """Return ``value`` if it is an integer in ``[low, high]`` (no upper bound when ``high`` is None).

    Raises:
        ValueError: Naming ``name``, the bounds and the value otherwise.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")
    return value


def generation_params(
    seed: int, train: int, test: int, frames: int, size: tuple[int, int], fps: int, num_classes: int, lighting: float
) -> dict[str, Any]:
    """Validate the generation parameters and return them as the ``params`` record of ``dataset.json``."""
    check_int("seed", seed, 0, 2**63 - 1)
    check_int("videos_per_class_train", train, 1)
    check_int("videos_per_class_test", test, 1)
    check_int("frames", frames, 2, 10_000)
    check_int("fps", fps, 1, 240)
    check_int("num_classes", num_classes, 2, MAX_CLASSES)
    if not isinstance(size, Sequence) or len(size) != 2:
        raise ValueError(f"size must be (height, width), got {size!r}")
    for name, v in zip(("size[0] (height)", "size[1] (width)"), size, strict=True):
        if check_int(name, v, 16, 4096) % 2:
            raise ValueError(f"{name} must be even (libx264 with yuv420p), got {v}")
    if isinstance(lighting, bool) or not isinstance(lighting, int | float) or not 0.0 <= lighting <= 1.0:
        raise ValueError(f"lighting must be a number in [0, 1], got {lighting!r}")
    layout.assign_groups(train, test)
    return {
        "format_version": FORMAT_VERSION,
        "seed": seed,
        "videos_per_class_train": train,
        "videos_per_class_test": test,
        "frames": frames,
        "size": [int(size[0]), int(size[1])],
        "fps": fps,
        "num_classes": num_classes,
        "lighting": float(lighting),
        "crf": CRF,
        "preset": PRESET,
        "clips_per_group": layout.CLIPS_PER_GROUP,
        "train_fraction": TRAIN_FRACTION,
        "gap_fraction": GAP_FRACTION,
    }


def plan_all(params: dict[str, Any]) -> tuple[list[str], list[VideoPlan]]:
    """Plan every video: classes in label order, then per class its test clips and its train clips."""
    chosen = sorted(range(params["num_classes"]), key=lambda i: PHOTOS[i].name)
    num_digits = len(load_digits()[1])
    numbers = layout.assign_groups(params["videos_per_class_train"], params["videos_per_class_test"])
    plans = [
        plan_video(
            params["seed"],
            ci,
            split,
            g,
            c,
            photo_hw=photo_size(ci),
            num_digits=num_digits,
            frames=params["frames"],
            size=(params["size"][0], params["size"][1]),
            fps=params["fps"],
            lighting=params["lighting"],
        )
        for ci in chosen
        for split in ("test", "train")
        for g, c in numbers[split]
    ]
    return [PHOTOS[i].name for i in chosen], plans
