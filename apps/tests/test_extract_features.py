"""`sce extract-features`: multi-view averaging, 2 processes vs 1, the authors' checkpoint layout, resume."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from eval_helpers import APPS, authors_checkpoint, build_tiny_shards
from pretrain_helpers import fabric_command

from sce_apps.distributed import rank_slice
from sce_apps.engine.sections import FabricConfig
from sce_apps.extract import ExtractConfig, extract
from sce_apps.extract.program import _part_path
from sce_apps.features import multiview_dataset, video_features
from sce_backbones import build_trunk
from sce_retrieval import FeatureBank
from sce_video_data import VIDEO_MEAN, VIDEO_STD, Normalize, to_float_batch


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    return build_tiny_shards(tmp_path_factory.mktemp("extract"))["train"]


WIDTH = 8
"""R3D-18 at width 8 (64 features): small checkpoints, quick forward passes."""


def _config(shards: Path, out: Path, **kwargs) -> ExtractConfig:
    settings = {"frames": 2, "clips": 2, "crops": 3, "size": 32, "batch_size": 2, "num_workers": 0, **kwargs}
    settings.setdefault("trunk_width", WIDTH)
    return ExtractConfig(shards=str(shards), out=str(out), **settings)


def test_multiview_average_equals_mean_of_views_one_by_one(shards: Path) -> None:
    torch.manual_seed(0)
    trunk = build_trunk("r3d18", width=WIDTH).eval()
    dataset = multiview_dataset(shards, frames=2, clip_duration=2.56, clips=2, size=32, crops=3)
    video = dataset[0]["video"].unsqueeze(0)  # (1, clips, crops, T, H, W, 3)
    normalize = Normalize(VIDEO_MEAN, VIDEO_STD)
    batched = video_features(trunk, video, normalize)
    with torch.no_grad():
        one_by_one = [trunk(normalize(to_float_batch(video[:, c, v]))) for c in range(2) for v in range(3)]
    torch.testing.assert_close(batched, torch.stack(one_by_one).mean(dim=0), rtol=1e-5, atol=1e-6)


def test_slices_cover_everything_once() -> None:
    for count in range(0, 12):
        for world in range(1, 5):
            rows = [i for r in range(world) for i in rank_slice(count, r, world)]
            assert rows == list(range(count))


def test_authors_checkpoint_loads_and_one_process_matches_two(shards: Path, tmp_path: Path) -> None:
    checkpoint = tmp_path / "authors.ckpt"
    authors_checkpoint(checkpoint, width=WIDTH)
    one = extract(_config(shards, tmp_path / "one.npz", checkpoint=str(checkpoint)), FabricConfig(accelerator="cpu"))
    bank = FeatureBank.load(one)
    assert len(bank) == 6 and bank.dim == 8 * WIDTH and bank.thumbnails is not None
    assert bank.metadata["checkpoint"] == str(checkpoint) and bank.class_names
    assert bank.metadata["trunk_width"] == WIDTH
    assert list(bank.labels) == sorted(bank.labels)  # class folders in order
    assert np.isfinite(bank.features).all() and bank.features.std() > 0

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [
        *fabric_command(),
        "run",
        "--accelerator",
        "cpu",
        "--devices",
        "2",
        "--strategy",
        "ddp",
        str(APPS / "extract_features.py"),
        "--features.shards",
        str(shards),
        "--features.out",
        str(tmp_path / "two.npz"),
        "--features.checkpoint",
        str(checkpoint),
        "--features.frames",
        "2",
        "--features.clips",
        "2",
        "--features.size",
        "32",
        "--features.batch_size",
        "2",
        "--features.num_workers",
        "0",
        "--features.trunk_width",
        str(WIDTH),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    two = FeatureBank.load(tmp_path / "two.npz")
    assert two.ids == bank.ids and np.array_equal(two.labels, bank.labels)
    np.testing.assert_allclose(two.features, bank.features, rtol=1e-5, atol=1e-5)
    assert not list(tmp_path.glob(".two.part-*"))  # parts are merged and removed


def test_a_part_left_by_a_killed_run_is_reused(shards: Path, tmp_path: Path) -> None:
    config = _config(shards, tmp_path / "bank.npz")
    first = FeatureBank.load(extract(config, FabricConfig(accelerator="cpu")))
    part = _part_path(tmp_path / "bank.npz", config, 0, 1)
    marked = FeatureBank(
        first.features + 1.0, first.labels, ids=first.ids, class_names=first.class_names, thumbnails=first.thumbnails
    )
    marked.save(part)
    again = FeatureBank.load(extract(config, FabricConfig(accelerator="cpu")))
    np.testing.assert_array_equal(again.features, first.features + 1.0)


def test_bad_inputs(shards: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a shard folder"):
        extract(_config(tmp_path / "missing", tmp_path / "x.npz"))
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        extract(_config(shards, tmp_path / "x.npz", checkpoint=str(tmp_path / "none.ckpt")))
    with pytest.raises(ValueError, match="crops must be 1 or 3"):
        _config(shards, tmp_path / "x.npz", crops=2)
    wrong = tmp_path / "r3d50.ckpt"
    torch.save({"conv.weight": torch.zeros(1)}, wrong)
    with pytest.raises(ValueError, match="no trunk key found in the checkpoint"):
        extract(_config(shards, tmp_path / "x.npz", checkpoint=str(wrong)), FabricConfig(accelerator="cpu"))
    narrow = authors_checkpoint(tmp_path / "narrow.ckpt", width=WIDTH)
    with pytest.raises(ValueError, match=r"narrow.ckpt holds a r3d18 trunk of width 8; set features.trunk_width=8 "):
        extract(_config(shards, tmp_path / "x.npz", checkpoint=str(narrow), trunk_width=64))
    with pytest.raises(ValueError, match=r"features.trunk_width must be a positive int \(64 for the published .*got 0"):
        _config(shards, tmp_path / "x.npz", trunk_width=0)
