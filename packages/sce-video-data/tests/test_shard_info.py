"""``shard_info`` / ``sce-shards info``: bytes per video-second and the stored size; the low-resolution warning."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision.io import encode_jpeg

from sce_video_data import cli
from sce_video_data.indexes import folders_index
from sce_video_data.indexes.images import encode_image_item, imagefolder_index
from sce_video_data.shards.build import build_shards
from sce_video_data.shards.check import (
    build_parameters,
    low_resolution_warning,
    shard_info,
    stored_short_side,
)
from sce_video_data.shards.encoding import EncodeParams
from sce_video_data.shards.format import PLAN_FILE
from sce_video_data.synthetic import write_index_shards, write_index_video

pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")

# (relative path, frames, fps): 20 / 25 + 30 / 10 = 0.8 + 3.0 = 3.8 seconds of video.
VIDEOS = [("a/x.mp4", 20, 25), ("b/y.mp4", 30, 10)]


@pytest.fixture(scope="module")
def video_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("info_videos")
    for rel, frames, fps in VIDEOS:
        write_index_video(root / rel, frames, fps=fps, width=128, height=96)
    return root


def _build(root: Path, out: Path, short_side: int, quality: int = 90, fps: float | None = None) -> Path:
    items, classes = folders_index(root)
    params = EncodeParams(short_side=short_side, fps=fps, quality=quality)
    build_shards(items, classes, root, out, params=params, progress=False)
    return out


def test_info_bytes_per_video_second_and_stored_parameters(video_root: Path, tmp_path: Path) -> None:
    out = _build(video_root, tmp_path / "shards", short_side=64, quality=85)
    info = shard_info(out)
    shard_bytes = (out / "shards" / "shard-00000.bin").stat().st_size
    assert info["bytes"] == shard_bytes and info["kind"] == "videos"
    assert info["duration"] == pytest.approx(20 / 25 + 30 / 10)
    assert info["bytes_per_second"] == pytest.approx(shard_bytes / 3.8)
    assert (info["short_side"], info["fps"], info["quality"]) == (64, None, 85)


def test_info_with_resampled_fps(video_root: Path, tmp_path: Path) -> None:
    out = _build(video_root, tmp_path / "shards", short_side=48, fps=5)
    info = shard_info(out)
    assert info["fps"] == 5 and info["short_side"] == 48
    assert info["duration"] == pytest.approx(4 / 5 + 15 / 5)  # ceil(0.8 * 5) and ceil(3.0 * 5) frames at 5 fps


def test_cli_info_prints_rate_and_stored_size(video_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = _build(video_root, tmp_path / "shards", short_side=64)
    rate = shard_info(out)["bytes_per_second"]
    assert cli.main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "duration: 3.8 s of video" in text
    assert f"bytes/s: {rate:.0f} per video-second" in text
    assert "stored: short side 64, fps native, quality 90" in text


def test_generated_shards_without_parameters(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = write_index_shards(tmp_path / "shards", 3, frames=(10, 20, 30), sizes=((40, 30), (30, 50), (64, 48)))
    info = shard_info(out)
    assert info["duration"] == pytest.approx(60 / 25)
    assert info["bytes_per_second"] == pytest.approx(info["bytes"] / 2.4)
    assert info["short_side"] == 30  # median short side of the items: 30, 30, 48
    assert (info["fps"], info["quality"]) == (None, None)
    assert cli.main(["info", str(out)]) == 0
    assert "stored: short side 30, fps ?, quality ?" in capsys.readouterr().out


def test_stored_short_side_reads_the_build_parameter(video_root: Path, tmp_path: Path) -> None:
    out = _build(video_root, tmp_path / "shards", short_side=40)
    assert stored_short_side(out) == 40
    assert build_parameters(out)["short_side"] == 40
    (out / PLAN_FILE).unlink()  # the manifest holds the same parameters
    assert build_parameters(out)["short_side"] == 40 and stored_short_side(out) == 40
    kept = _build(video_root, tmp_path / "kept", short_side=0)
    assert stored_short_side(kept) == 96  # the sources' size


def _image_tree(root: Path, sizes: list[tuple[int, int]]) -> Path:
    for k, (width, height) in enumerate(sizes):
        image = torch.full((3, height, width), 40 * k, dtype=torch.uint8)
        (root / "c").mkdir(parents=True, exist_ok=True)
        (root / "c" / f"{k}.jpg").write_bytes(bytes(encode_jpeg(image, quality=90).numpy()))
    return root


def test_images_are_never_enlarged(tmp_path: Path) -> None:
    root = _image_tree(tmp_path / "images", [(80, 60), (60, 100), (20, 30)])
    items, classes = imagefolder_index(root)
    out = tmp_path / "shards"
    build_shards(items, classes, root, out, params=EncodeParams(short_side=50), encode=encode_image_item,
                 layout="imagefolder", progress=False)  # fmt: skip
    info = shard_info(out)
    assert info["kind"] == "images" and info["duration"] is None and info["bytes_per_second"] is None
    assert info["short_side"] == 50  # stored 50, 50 and 20 (never enlarged): the median
    assert low_resolution_warning(out, 48, "x") is None
    assert "--short-side 64" in (low_resolution_warning(out, 64, "x") or "")


def test_low_resolution_warning(video_root: Path, tmp_path: Path) -> None:
    out = _build(video_root, tmp_path / "shards", short_side=32)
    line = low_resolution_warning(out, 128, "pretraining with data.crop_size=112")
    assert line is not None and "\n" not in line
    assert str(out) in line and "short side 32" in line and "data.crop_size=112" in line
    assert "sce-shards build ... --short-side 128" in line
    assert low_resolution_warning(out, 32, "x") is None
    assert low_resolution_warning(out, 16, "x") is None
    kept = _build(video_root, tmp_path / "kept", short_side=0)  # the source size: rebuilding adds nothing
    assert low_resolution_warning(kept, 256, "x") is None
    assert low_resolution_warning(tmp_path / "missing", 256, "x") is None
    generated = write_index_shards(tmp_path / "generated", 2, sizes=((32, 24),))
    assert "short side 24" in (low_resolution_warning(generated, 64, "x") or "")
