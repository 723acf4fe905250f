"""The demo pipeline end to end on its real dataset (shortened pretraining), and the UCF101 layout finder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sce_apps.demo.pipeline import run_demo
from sce_apps.demo.ucf101_layout import locate_ucf101

SHORT_PRETRAIN = ["--train.max_epochs", "3"]  # half the demo's pretraining (45 steps)
SHORT_FINETUNE = ["--train.max_epochs", "4", "--train.val_every_epochs", "2"]


@pytest.mark.slow
def test_demo_end_to_end_sce_beats_random_init(tmp_path: Path) -> None:
    """The demo on its real dataset (10 scenes, 240 + 80 H.264 videos) with a shortened pretraining and finetuning.

    Chance is 10%. Measured with these settings on the 2-core dev machine: linear top-1 72.5% (SCE) vs 61.2% (random
    init), finetuning (from the linear runs, LP-FT) 73.8% vs 51.2% (the full demo: apps/README.md).
    """
    results = run_demo(tmp_path, pretrain_overrides=SHORT_PRETRAIN, finetune_overrides=SHORT_FINETUNE)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved == results and set(results) == {"random_init", "sce"}
    for metrics in saved.values():
        assert set(metrics) == {"R@1", "R@5", "knn_acc", "linear_top1", "finetune_top1"}
        assert metrics["R@1"] <= metrics["R@5"]
        assert metrics["finetune_top1"] >= 0.4 and metrics["linear_top1"] >= 0.4  # at least 4x chance
    sce, random_init = saved["sce"], saved["random_init"]
    assert sce["linear_top1"] >= random_init["linear_top1"] + 0.08  # the frozen SCE trunk is the better one
    assert sce["finetune_top1"] >= random_init["finetune_top1"] + 0.08  # and the better start for finetuning
    assert sce["linear_top1"] >= 0.6 and sce["R@1"] > random_init["R@1"] and sce["knn_acc"] > random_init["knn_acc"]
    for protocol in ("linear", "finetune"):
        for name in ("sce", "random_init"):
            run = json.loads((tmp_path / protocol / name / "results.json").read_text())
            assert run["protocol"] == protocol and run["last"]["count"] == 80 and run["classes"] == 10
            assert run["validation"].startswith("held out: 40 of 240")  # one group of 4 videos per class
            assert saved[name][f"{protocol}_top1"] == run["last"]["top1"]
    assert (tmp_path / "pretrain" / "checkpoints" / "step-00000045.ckpt").is_file()
    for name in ("sce", "random_init"):  # finetuning started from the linear run's classifier
        config = (tmp_path / "finetune" / name / "config.yaml").read_text()
        assert str(tmp_path / "linear" / name / "checkpoints" / "best.ckpt") in config
    report = (tmp_path / "report" / "report.md").read_text()
    assert "| sce |" in report and "| random_init |" in report and "finetune top-1" in report
    for name in ("neighbours_sce.png", "neighbours_random_init.png"):
        assert (tmp_path / "report" / name).stat().st_size > 1000
    assert (tmp_path / "pretrain" / "plots" / "training_curves.png").is_file()
    assert (tmp_path / "linear" / "sce" / "plots" / "training_curves.png").is_file()


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
