"""The demo pipeline end to end on a tiny setting, and the UCF101 layout finder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pretrain_helpers import TINY_HEADS_ARGS

from sce_apps.demo.pipeline import run_demo
from sce_apps.demo.ucf101_layout import locate_ucf101

TINY_DATASET = {
    "num_classes": 3,
    "videos_per_class_train": 4,
    "videos_per_class_test": 2,
    "frames": 20,
    "size": (48, 64),
    "fps": 10,
}
TINY_PRETRAIN = [
    "--data.frames", "2", "--data.crop_size", "32", "--data.num_workers", "0", *TINY_HEADS_ARGS,
    "--train.global_batch_size", "4", "--train.max_epochs", "1", "--optim.warmup_epochs", "0",
]  # fmt: skip


def test_demo_end_to_end_on_tiny_setting(tmp_path: Path) -> None:
    results = run_demo(
        tmp_path,
        dataset_options=TINY_DATASET,
        pretrain_overrides=TINY_PRETRAIN,
        eval_clips=1,
        eval_crops=1,
        short_side=48,
    )
    assert set(results) == {"random_init", "sce"}
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved == results
    for metrics in saved.values():
        assert set(metrics) == {"R@1", "R@5", "knn_acc"}
        assert all(0.0 <= v <= 1.0 for v in metrics.values())
        assert metrics["R@1"] <= metrics["R@5"]
    assert (tmp_path / "pretrain" / "checkpoints" / "step-00000003.ckpt").is_file()
    assert (tmp_path / "shards" / "train" / "manifest.json").is_file()
    report = (tmp_path / "report" / "report.md").read_text()
    assert "| sce |" in report and "| random_init |" in report
    for name in ("neighbours_sce.png", "neighbours_random_init.png"):
        assert (tmp_path / "report" / name).stat().st_size > 1000
    assert (tmp_path / "pretrain" / "plots" / "training_curves.png").is_file()


def _write_ucf101(root: Path, splits_name: str | None, videos_name: str | None, crlf: bool) -> None:
    splits = root / splits_name if splits_name else root
    videos = root / videos_name if videos_name else root
    splits.mkdir(parents=True, exist_ok=True)
    end = "\r\n" if crlf else "\n"
    (splits / "classInd.txt").write_text(f"1 Apply Eye{end}".replace("Apply Eye", "ApplyEyeMakeup") + f"2 Archery{end}")
    (splits / "trainlist01.txt").write_text(f"ApplyEyeMakeup/v_a.avi 1{end}")
    (splits / "testlist01.txt").write_text(f"Archery/v_b.avi{end}")
    for name in ("ApplyEyeMakeup", "Archery"):
        (videos / name).mkdir(parents=True, exist_ok=True)


@pytest.mark.parametrize(
    ("splits_name", "videos_name"), [(None, None), ("ucfTrainTestlist", "UCF-101"), ("splits", "videos")]
)
def test_locate_ucf101_layouts(tmp_path: Path, splits_name, videos_name) -> None:
    _write_ucf101(tmp_path, splits_name, videos_name, crlf=True)
    videos, splits = locate_ucf101(tmp_path)
    assert splits == (tmp_path / splits_name if splits_name else tmp_path)
    assert videos == (tmp_path / videos_name if videos_name else tmp_path)


def test_locate_ucf101_reports_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no UCF101 split files"):
        locate_ucf101(tmp_path)
    _write_ucf101(tmp_path, "splits", None, crlf=False)
    (tmp_path / "Archery").rmdir()
    with pytest.raises(FileNotFoundError, match="class folders"):
        locate_ucf101(tmp_path)
