"""The packages and programs chained through their public interfaces, on a dozen tiny generated videos.

videos (``sce_video_data.synthetic``) -> ``sce-shards build`` -> ``sce_apps.pretrain.setup`` (2 steps of a tiny
R3D-18) -> ``sce extract-features`` (train and test banks) -> ``sce-retrieval`` (R@k, k-NN, JSON).
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from sce_apps import cli as sce_cli
from sce_apps.pretrain import DataConfig, FabricConfig, ModelConfig, OptimConfig, SCEConfig, TrainConfig, setup
from sce_backbones import build_trunk, load_trunk_weights
from sce_retrieval import FeatureBank
from sce_retrieval import cli as retrieval_cli
from sce_video_data import ShardReader, load_manifest
from sce_video_data import cli as shards_cli
from sce_video_data.synthetic import write_index_video

pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")  # torchvision 0.29

CLASSES = ("left", "right")
VIDEOS_PER_CLASS = {"train": 4, "test": 2}
FRAMES, CLIP_SECONDS = 2, 0.5
STEPS, BATCH = 2, 4
FEATURES = 8 * 8  # R3D-18 at width 8: 8 x width features


@dataclass
class Pipeline:
    videos: dict[str, list[str]]
    """Relative paths of the generated videos of each split."""
    shards: dict[str, Path]
    checkpoint: Path
    banks: dict[str, Path]
    retrieval_json: Path
    retrieval_status: int
    table: str


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    root = tmp_path_factory.mktemp("pipeline")
    videos: dict[str, list[str]] = {}
    for split, count in VIDEOS_PER_CLASS.items():
        videos[split] = []
        for name in CLASSES:
            for i in range(count):
                relative = f"{name}/{split}_{i}.mp4"
                frames = 10 + sum(map(len, videos.values()))  # 10, 11, ... frames: no two videos are the same
                write_index_video(root / "videos" / split / relative, frames, fps=10, width=64, height=48)
                videos[split].append(relative)

    shards = {}
    for split in VIDEOS_PER_CLASS:
        shards[split] = root / "shards" / split
        argv = ["build", "--layout", "folders", "--root", str(root / "videos" / split), "--out", str(shards[split])]
        assert shards_cli.main([*argv, "--short-side", "32", "--no-progress"]) == 0

    checkpoint = setup(
        data=DataConfig(
            path=str(shards["train"]),
            format="video_shards",
            frames=FRAMES,
            clip_duration=CLIP_SECONDS,
            crop_size=16,
            num_workers=0,
            augment="video_sce",  # the published views; with "none", near-identical index clips make BN degenerate
        ),
        model=ModelConfig(
            trunk="r3d18", trunk_width=8, projector_hidden_dims=(32, 32), projector_out_dim=16, predictor_hidden_dim=32
        ),
        sce=SCEConfig(queue_size=32),
        optim=OptimConfig(warmup_epochs=1),
        train=TrainConfig(
            global_batch_size=BATCH, max_epochs=1, max_steps=STEPS, log_every_steps=1, checkpoint_every_steps=STEPS
        ),
        fabric=FabricConfig(accelerator="cpu"),
        out_dir=root / "pretrain",
    )

    learner = torch.load(checkpoint, map_location="cpu", weights_only=True)["learner"]
    diverged = [k for k, v in learner.items() if v.is_floating_point() and not v.abs().max() < 1e6]
    assert not diverged, f"pretraining diverged in 2 steps: {diverged[:5]}"

    banks = {}
    for split in VIDEOS_PER_CLASS:
        banks[split] = root / "features" / f"{split}.npz"
        settings = {
            "shards": shards[split],
            "out": banks[split],
            "checkpoint": checkpoint,
            "trunk_width": 8,
            "frames": FRAMES,
            "clip_duration": CLIP_SECONDS,
            "clips": 2,
            "crops": 1,
            "size": 32,
            "batch_size": 4,
            "num_workers": 0,
        }
        flags = [arg for name, value in settings.items() for arg in (f"--features.{name}", str(value))]
        sce_cli.main(["extract-features", *flags, "--fabric.accelerator", "cpu"])  # `sce extract-features ...`

    out = root / "retrieval.json"
    argv = ["--query", str(banks["test"]), "--bank", str(banks["train"]), "--ks", "1", "5", "--knn-k", "3"]
    with contextlib.redirect_stdout(io.StringIO()) as table:
        status = retrieval_cli.main([*argv, "--json", str(out)])
    return Pipeline(videos, shards, Path(checkpoint), banks, out, status, table.getvalue())


def test_shards_hold_every_generated_video(pipeline: Pipeline) -> None:
    for split, shards in pipeline.shards.items():
        reader = ShardReader(shards)
        assert len(reader) == len(pipeline.videos[split]) == VIDEOS_PER_CLASS[split] * len(CLASSES)
        assert list(reader.class_names) == list(CLASSES)
        paths = [item["path"] for item in load_manifest(shards)["items"]]
        assert sorted(paths) == sorted(pipeline.videos[split])


def test_pretraining_ran_and_its_trunk_loads(pipeline: Pipeline) -> None:
    assert pipeline.checkpoint.is_file()
    state = torch.load(pipeline.checkpoint, map_location="cpu", weights_only=True)
    assert int(state["step"]) == STEPS
    result = load_trunk_weights(build_trunk("r3d18", width=8), pipeline.checkpoint)
    assert result.prefix == "online.trunk." and not result.missing_keys


@pytest.mark.parametrize("split", list(VIDEOS_PER_CLASS))
def test_banks_match_the_shards(pipeline: Pipeline, split: str) -> None:
    bank = FeatureBank.load(pipeline.banks[split])
    reader = ShardReader(pipeline.shards[split])
    assert bank.features.shape == (len(reader), FEATURES) and bank.dim == FEATURES
    assert np.isfinite(bank.features).all() and bank.features.std() > 0
    assert bank.labels.tolist() == [reader.item(i).label for i in range(len(reader))]
    assert bank.ids == [item["path"] for item in load_manifest(pipeline.shards[split])["items"]]
    assert list(bank.class_names or []) == list(CLASSES)
    assert bank.metadata["checkpoint"] == str(pipeline.checkpoint)


def test_retrieval_json_and_table(pipeline: Pipeline) -> None:
    assert pipeline.retrieval_status == 0
    result = json.loads(pipeline.retrieval_json.read_text())
    assert result["num_queries"] == VIDEOS_PER_CLASS["test"] * len(CLASSES)
    assert result["num_bank"] == VIDEOS_PER_CLASS["train"] * len(CLASSES)
    assert result["dim"] == FEATURES and result["center"] is True and result["normalize"] is True
    recall = result["recall"]
    assert set(recall) == {"1", "5"}
    assert all(0.0 <= value <= 1.0 for value in recall.values())
    assert recall["1"] <= recall["5"]
    assert result["knn"]["k"] == 3 and 0.0 <= result["knn"]["accuracy"] <= 1.0
    assert "R@1" in pipeline.table and "R@5" in pipeline.table and "k-NN top-1 (k=3" in pipeline.table
