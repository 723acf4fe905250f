"""Image pretraining end to end: an ImageFolder tree → `sce-shards build --layout imagefolder` → multi-crop SCE."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from pretrain_helpers import load, logged, tiny_sections

from sce_apps.pretrain import setup
from sce_video_data import cli as shards_cli


def test_image_multicrop_pretraining(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for c in range(2):
        (tmp_path / "images" / f"class{c}").mkdir(parents=True)
        for i in range(4):
            pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "images" / f"class{c}" / f"{i}.png")
    status = shards_cli.main(
        [
            "build",
            "--layout",
            "imagefolder",
            "--root",
            str(tmp_path / "images"),
            "--out",
            str(tmp_path / "shards"),
            "--short-side",
            "32",
            "--no-progress",
        ]
    )
    assert status == 0
    sections = tiny_sections(
        data={
            "format": "image_shards",
            "path": str(tmp_path / "shards"),
            "crop_size": 24,
            "crop_scale": (0.2, 1.0),
            "num_local_crops": 2,
            "augment": "image_sce",
            "time_difference_prob": 0.0,
        },
        model={"trunk": "resnet18", "small_input": True, "trunk_width": 64},
        train={"max_epochs": 1},
        sce={"temp_m": 0.07},
    )
    setup(**sections, out_dir=tmp_path / "run")
    payload = load(tmp_path / "run" / "checkpoints" / "step-00000002.ckpt")
    assert payload["step"] == 2
    assert int(payload["learner"]["criterion.queue_ptr"]) == 2 * 2 * 4  # only the 2 global crops are keys
    losses = logged(tmp_path / "run", "loss")
    assert sorted(losses) == [1, 2] and all(np.isfinite(list(losses.values())))
