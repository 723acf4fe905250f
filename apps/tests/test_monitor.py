"""The online k-NN monitor of pretraining on tiny labelled shards."""

from __future__ import annotations

from pathlib import Path

import pytest
from eval_helpers import build_tiny_shards
from pretrain_helpers import logged, tiny_sections

from sce_apps.pretrain import MonitorConfig, setup


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> dict[str, Path]:
    return build_tiny_shards(tmp_path_factory.mktemp("monitor"), num_classes=2, train_per_class=4, test_per_class=2)


def test_monitor_logs_knn_accuracy_every_val_period_and_at_the_end(shards: dict[str, Path], tmp_path: Path) -> None:
    sections = tiny_sections(
        data={"format": "video_shards", "path": str(shards["train"]), "crop_size": 16, "clip_duration": 1.0},
        train={"max_epochs": 3, "val_every_epochs": 2, "global_batch_size": 4},
    )
    monitor = MonitorConfig(bank=str(shards["train"]), query=str(shards["test"]), k=3, size=32, batch_size=4)
    setup(**sections, monitor=monitor, out_dir=tmp_path)
    knn = logged(tmp_path, "knn_top1")
    assert sorted(knn) == [4, 6]  # 2 steps per epoch: after epoch 2 and after the last step
    assert all(0.0 <= v <= 1.0 for v in knn.values())
    assert all(v > 0 for v in logged(tmp_path, "monitor_s").values())
    assert (tmp_path / "plots" / "training_curves.png").is_file()


def test_monitor_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="monitor.query is required with monitor.bank"):
        MonitorConfig(bank="x")
    with pytest.raises(ValueError, match="monitor.k must be positive"):
        MonitorConfig(k=0)
    assert not MonitorConfig().enabled
