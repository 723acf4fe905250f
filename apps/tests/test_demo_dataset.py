"""Tests of the demo dataset (``sce_apps.demo.make_dataset``) on tiny settings."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from sce_apps.demo import make_dataset as dataset
from sce_apps.demo.make_dataset import CONTENTS, PHOTOS, DemoDataset, make_demo_dataset
from sce_video_data import ucf101_index

TINY: dict[str, Any] = {
    "seed": 3,
    "content": "scenes",
    "num_classes": 3,
    "videos_per_class_train": 5,
    "videos_per_class_test": 2,
    "frames": 12,
    "size": (32, 48),
    "fps": 5,
}
CLASSES = ("Astronaut", "Chelsea", "Coffee")  # the first three photographs, in alphabetical (label) order


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> DemoDataset:
    return make_demo_dataset(tmp_path_factory.mktemp("demo") / "data", workers=0, **TINY)


def decode(path: Path) -> tuple[np.ndarray, Any]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)]), stream


def file_hashes(data: DemoDataset) -> dict[str, str]:
    return {
        str(p.relative_to(data.root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(data.root.rglob("*"))
        if p.is_file()
    }


def test_ucf101_layout_read_by_the_package_index(tiny: DemoDataset) -> None:
    assert tiny.classes == CLASSES
    train, classes = ucf101_index(tiny.splits_dir, "train", 1, tiny.videos_dir)
    test, _ = ucf101_index(tiny.splits_dir, "test", 1, tiny.videos_dir)
    assert classes == list(CLASSES) and len(train) == 15 and len(test) == 6
    # UCF101 split 1 style: test takes the first groups (4 clips each), train the following ones
    assert test[:2] == [("Astronaut/v_Astronaut_g01_c01.mp4", 0), ("Astronaut/v_Astronaut_g01_c02.mp4", 0)]
    assert [p for p, _ in train[:5]] == [f"Astronaut/v_Astronaut_g02_c0{c}.mp4" for c in (1, 2, 3, 4)] + [
        "Astronaut/v_Astronaut_g03_c01.mp4"
    ]
    assert train[-1] == ("Coffee/v_Coffee_g03_c01.mp4", 2)
    for name in ("classInd.txt", "trainlist01.txt", "testlist01.txt"):  # Windows line endings, as the official lists
        data = (tiny.splits_dir / name).read_bytes()
        assert data.endswith(b"\r\n") and data.count(b"\n") == data.count(b"\r\n")
    assert (tiny.splits_dir / "classInd.txt").read_bytes() == b"1 Astronaut\r\n2 Chelsea\r\n3 Coffee\r\n"
    on_disk = {str(p.relative_to(tiny.videos_dir)) for p in tiny.videos_dir.rglob("*.mp4")}
    assert on_disk == {p for p, _ in train + test}
    assert sorted(p.name for p in tiny.root.iterdir()) == ["params.json", "splits", "videos"]
    assert not list(tiny.root.parent.glob("*.tmp-*"))


def test_every_video_is_h264_with_the_asked_frames(tiny: DemoDataset) -> None:
    for path in sorted(tiny.videos_dir.rglob("*.mp4")):
        frames, stream = decode(path)
        assert frames.shape == (12, 32, 48, 3), path
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert stream.average_rate == 5
        assert frames.std() > 5.0  # a real picture, not a flat frame


def test_same_arguments_same_bytes_whatever_the_workers(tiny: DemoDataset, tmp_path: Path) -> None:
    again = make_demo_dataset(tmp_path / "again", workers=2, **TINY)
    reference = file_hashes(tiny)
    assert len(reference) == 25 and file_hashes(again) == reference
    other = make_demo_dataset(tmp_path / "other", workers=0, **{**TINY, "seed": 4})
    other_hashes = file_hashes(other)
    videos = [k for k in reference if k.endswith(".mp4")]
    assert all(other_hashes[k] != reference[k] for k in videos)


def test_train_and_test_cameras_film_disjoint_regions() -> None:
    for height, width in ((512, 512), (300, 451), (640, 427)):
        regions = dataset.split_regions(height, width)
        train, test = regions["train"], regions["test"]
        gap = (test[1] - train[3]) if width >= height else (test[0] - train[2])
        assert gap == pytest.approx(dataset.GAP_FRACTION * max(height, width))
        base = min(min(b[2] - b[0], (b[3] - b[1]) * 3 / 4) for b in regions.values())  # fits both regions
        rng = np.random.default_rng(0)
        for split, (top, left, bottom, right) in regions.items():
            for _ in range(20):
                w = dataset.camera_path(rng, regions[split], base, 4 / 3, 30)
                assert (w[:, 0] >= left).all() and (w[:, 1] >= top).all()
                assert (w[:, 2] <= right).all() and (w[:, 3] <= bottom).all()
                np.testing.assert_allclose((w[:, 2] - w[:, 0]) / (w[:, 3] - w[:, 1]), 4 / 3)


def test_colour_grading() -> None:
    identity = dataset.colour_grading(0.0, 1.0, np.ones(3))
    np.testing.assert_allclose(identity, np.eye(3), atol=1e-6)
    gray = dataset.colour_grading(1.0, 0.0, np.ones(3))
    np.testing.assert_allclose(gray, np.full((3, 3), 1 / 3), atol=1e-6)
    turned = dataset.colour_grading(2 * np.pi / 3, 1.0, np.ones(3))  # a third of a turn swaps the primaries
    np.testing.assert_allclose(turned @ np.array([1.0, 0.0, 0.0]), [0.0, 1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(turned.sum(axis=1), 1.0, atol=1e-6)  # gray stays gray


def test_reuses_the_same_dataset_and_refuses_to_clobber(tiny: DemoDataset, tmp_path: Path) -> None:
    mtimes = {p: p.stat().st_mtime_ns for p in tiny.root.rglob("*")}
    assert make_demo_dataset(tiny.root, workers=0, **TINY) == tiny
    with pytest.raises(FileExistsError, match="not empty"):
        make_demo_dataset(tiny.root, workers=0, **{**TINY, "seed": 9})
    assert {p: p.stat().st_mtime_ns for p in tiny.root.rglob("*")} == mtimes
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        make_demo_dataset(mine, workers=0, **TINY)
    assert (mine / "notes.txt").read_text() == "keep me"
    assert json.loads((tiny.root / "params.json").read_text())["seed"] == 3


@pytest.mark.parametrize(
    "override",
    [
        {"size": (32, 47)},
        {"size": (8, 48)},
        {"frames": 1},
        {"videos_per_class_train": 0},
        {"num_classes": 1},
        {"num_classes": 11},
        {"content": "faces"},
        {"videos_per_class_train": 400},
    ],
)
def test_bad_arguments_are_refused(override: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        make_demo_dataset(tmp_path / "out", **{**TINY, "workers": 0, **override})
    assert not any(tmp_path.iterdir())


def test_sources_are_real_shipped_images() -> None:
    digits = dataset.load_digits()
    assert digits.shape == (1797, 8, 8) and digits.max() == 1.0
    assert set(CONTENTS["scenes"]) | set(CONTENTS["textures"]) == set(PHOTOS)
    for name in PHOTOS:
        photo = dataset.load_photo(name)
        assert photo.mode == "RGB" and min(photo.size) <= dataset.MAX_SHORT_SIDE and min(photo.size) >= 170, name
        assert np.asarray(photo).std() > 10, name
