"""Tiny pretraining settings shared by the apps tests (a few seconds per run on 2 CPU cores).

The trunk is R3D-18 at width 8 (1/64 of the parameters): its checkpoints are a few MiB, not 230 MiB, so the suite
writes little to disk.
"""

from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

import pytest
import torch

from sce_apps.pretrain import DataConfig, FabricConfig, ModelConfig, OptimConfig, SCEConfig, TrainConfig

TINY_HEADS_ARGS = [
    "--model.projector_hidden_dims", "[32, 32]", "--model.projector_out_dim", "16",
    "--model.predictor_hidden_dim", "32", "--sce.queue_size", "32",
]  # fmt: skip
"""Small heads and queue, shared by the tiny pretraining and demo tests."""

TINY_ARGS = [
    "--data.format", "synthetic", "--data.synthetic_size", "12", "--data.synthetic_resolution", "16",
    "--data.frames", "2", "--data.num_workers", "0", "--data.augment", "none", "--model.trunk", "r3d18",
    "--model.trunk_width", "8", *TINY_HEADS_ARGS, "--optim.warmup_epochs", "1", "--train.global_batch_size", "4",
    "--train.max_epochs", "2", "--train.log_every_steps", "1", "--train.checkpoint_every_steps", "2",
    "--fabric.accelerator", "cpu",
]  # fmt: skip


def tiny_sections(**overrides: dict) -> dict:
    """The keyword sections of ``setup`` equivalent to TINY_ARGS, with per-section overrides."""
    sections = {
        "data": DataConfig(
            format="synthetic", synthetic_size=12, synthetic_resolution=16, frames=2, num_workers=0, augment="none"
        ),
        "model": ModelConfig(
            trunk="r3d18", trunk_width=8, projector_hidden_dims=(32, 32), projector_out_dim=16, predictor_hidden_dim=32
        ),
        "sce": SCEConfig(queue_size=32),
        "optim": OptimConfig(warmup_epochs=1),
        "train": TrainConfig(global_batch_size=4, max_epochs=2, log_every_steps=1, checkpoint_every_steps=2),
        "fabric": FabricConfig(accelerator="cpu"),
    }
    for name, values in overrides.items():
        sections[name] = type(sections[name])(**{**sections[name].__dict__, **values})
    return sections


def logged(out_dir: Path, name: str) -> dict[int, float]:
    """Metric ``name`` by step, read from the run's ``metrics.csv`` (what a user opens)."""
    values: dict[int, float] = {}
    path = out_dir / "metrics.csv"
    if path.is_file():
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                if row.get(name):
                    values[int(float(row["step"]))] = float(row[name])
    return values


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def fabric_command() -> list[str]:
    """The `fabric` command of this environment (skips the test when it is not installed)."""
    script = Path(sys.executable).with_name("fabric")
    if script.exists():
        return [str(script)]
    found = shutil.which("fabric")
    if found is None:
        pytest.skip("the `fabric` command (lightning-fabric + click) is not installed")
    return [found]
