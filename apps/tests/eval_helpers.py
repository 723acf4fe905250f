"""Small real-video shards and a synthetic checkpoint in the authors' key layout, shared by the evaluation tests."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from sce_apps.demo.make_dataset import make_demo_dataset
from sce_video_data import cli as shards_cli

APPS = Path(__file__).resolve().parents[1]
R3D18_KEYS = APPS.parent / "packages" / "sce-backbones" / "tests" / "fixtures" / "r3d18_reference_state_dict.json"
"""Keys and shapes of the authors' R3D-18 trunk (the fixture in packages/sce-backbones/tests/fixtures/)."""


def build_tiny_shards(
    root: Path, *, num_classes: int = 2, train_per_class: int = 3, test_per_class: int = 1
) -> dict[str, Path]:
    """Demo-dataset videos (real H.264, UCF101 layout) of 20 frames at 10 fps, sharded at short side 32."""
    info = make_demo_dataset(
        root / "data",
        num_classes=num_classes,
        videos_per_class_train=train_per_class,
        videos_per_class_test=test_per_class,
        frames=20,
        size=(48, 64),
        fps=10,
        workers=0,
    )
    shards = {}
    for split in ("train", "test"):
        args = ["build", "--layout", "ucf101", "--root", str(info.videos_dir), "--splits", str(info.splits_dir)]
        args += ["--split", split, "--out", str(root / "shards" / split), "--short-side", "32", "--no-progress"]
        assert shards_cli.main(args) == 0
        shards[split] = root / "shards" / split
    return shards


def authors_checkpoint(path: Path, seed: int = 3, width: int = 64) -> Path:
    """A synthetic pretraining checkpoint in the authors' key layout (``state_dict`` / ``trunk.model.*``, SPEC 4.1).

    ``width`` < 64 narrows every channel count (all multiples of 64) as ``build_trunk("r3d18", width=...)`` does.
    """
    shapes = {
        key: [d * width // 64 if d % 64 == 0 else d for d in shape]
        for key, shape in json.loads(R3D18_KEYS.read_text())["tensors"].items()
    }
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in shapes.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0)
        elif key.endswith("running_var"):
            state[key] = torch.ones(shape)
        else:
            state[key] = torch.randn(*shape, generator=generator) * 0.05
    torch.save({"epoch": 1, "state_dict": {f"trunk.model.{k}": v for k, v in state.items()}}, path)
    return path
