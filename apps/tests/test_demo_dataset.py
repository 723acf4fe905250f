"""Tests of the demo dataset builder (``sce_apps.demo.make_dataset``) on tiny settings."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from sce_apps.demo import scenes
from sce_apps.demo.make_dataset import DemoDatasetInfo, main, make_demo_dataset
from sce_apps.demo.render import lighting_lut
from sce_apps.demo.sources import MAX_CLASSES, MAX_SHORT_SIDE, PHOTOS, load_digits, load_photo

TINY: dict[str, Any] = {
    "seed": 3,
    "videos_per_class_train": 5,
    "videos_per_class_test": 2,
    "frames": 8,
    "size": (32, 48),
    "fps": 25,
    "num_classes": 3,
}
CLASSES = ("Astronaut", "Chelsea", "Coffee")  # the first three photographs, in alphabetical (label) order


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> DemoDatasetInfo:
    return make_demo_dataset(tmp_path_factory.mktemp("demo") / "data", workers=0, **TINY)


def decode(path: Path) -> tuple[np.ndarray, av.video.stream.VideoStream]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
        return frames, stream


def frame_hashes(info: DemoDatasetInfo) -> dict[str, str]:
    return {
        str(p.relative_to(info.videos_dir)): hashlib.sha256(decode(p)[0].tobytes()).hexdigest()
        for p in sorted(info.videos_dir.rglob("*.mp4"))
    }


def read_lines(path: Path) -> list[str]:
    data = path.read_bytes()
    assert data.endswith(b"\r\n"), f"{path.name} must end with CRLF"
    assert data.count(b"\n") == data.count(b"\r\n"), f"{path.name} has a bare LF"
    assert b"\r\r" not in data
    return data.decode("ascii").split("\r\n")[:-1]


def test_layout_and_split_file_formats(tiny: DemoDatasetInfo) -> None:
    assert tiny.classes == CLASSES and (tiny.num_train, tiny.num_test) == (15, 6)
    assert read_lines(tiny.splits_dir / "classInd.txt") == ["1 Astronaut", "2 Chelsea", "3 Coffee"]
    train = read_lines(tiny.splits_dir / "trainlist01.txt")
    test = read_lines(tiny.splits_dir / "testlist01.txt")
    # UCF101 split 1 style: test takes the first groups, 4 clips per group; train continues with the next groups.
    assert test[:2] == ["Astronaut/v_Astronaut_g01_c01.mp4", "Astronaut/v_Astronaut_g01_c02.mp4"]
    assert train[:5] == [f"Astronaut/v_Astronaut_{gc}.mp4 1" for gc in ("g02_c01", "g02_c02", "g02_c03", "g02_c04")] + [
        "Astronaut/v_Astronaut_g03_c01.mp4 1"
    ]
    assert train[-1] == "Coffee/v_Coffee_g03_c01.mp4 3"
    label_of = {name: i + 1 for i, name in enumerate(CLASSES)}
    for line in train:
        m = re.fullmatch(r"(\w+)/v_\1_g(\d\d)_c(\d\d)\.mp4 (\d+)", line)
        assert m, line
        assert int(m.group(4)) == label_of[m.group(1)]
    for line in test:
        assert re.fullmatch(r"(\w+)/v_\1_g(\d\d)_c(\d\d)\.mp4", line), line
    on_disk = {str(p.relative_to(tiny.videos_dir)) for p in tiny.videos_dir.rglob("*")}
    listed = {line.split(" ")[0] for line in train} | set(test)
    assert on_disk == listed | set(CLASSES)  # class folders plus exactly the listed videos
    assert len(listed) == len(train) + len(test) == 21
    assert sorted(p.name for p in tiny.root.iterdir()) == ["dataset.json", "splits", "videos"]
    assert not list(tiny.root.parent.glob("*.tmp-*"))


def test_every_video_decodes_to_the_expected_frames(tiny: DemoDatasetInfo) -> None:
    for path in sorted(tiny.videos_dir.rglob("*.mp4")):
        frames, stream = decode(path)
        assert frames.shape == (8, 32, 48, 3), path
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert stream.average_rate == 25
        assert frames.std() > 5.0  # a real picture, not a flat frame


def test_frames_show_the_recorded_camera_window(tiny: DemoDatasetInfo) -> None:
    record = json.loads(tiny.json_path.read_text())
    for video in record["videos"][:: len(record["videos"]) // 4]:
        top, left, bottom, right = video["camera"]["first"]
        photo = Image.fromarray(load_photo([p.name for p in PHOTOS].index(video["path"].split("/")[0])))
        window = photo.resize((48, 32), Image.Resampling.BILINEAR, box=(left, top, right, bottom))
        lut = lighting_lut(tuple(video["lighting"]["gains"]), video["lighting"]["gamma"])
        assert lut is not None  # the default lighting strength changes every video a little
        expected = np.asarray(window.point(lut))
        first = decode(tiny.videos_dir / video["path"])[0][0].astype(np.float64)
        err = np.abs(first - expected).mean(axis=2)
        assert np.median(err) < 8.0, video["path"]  # H.264 loss; the digit covers well under half the frame
        flipped = expected[:, ::-1].astype(np.float64)
        assert np.median(np.abs(first - flipped).mean(axis=2)) > np.median(err)


def test_same_seed_same_frames_whatever_the_workers(tiny: DemoDatasetInfo, tmp_path: Path) -> None:
    again = make_demo_dataset(tmp_path / "again", workers=2, **TINY)
    reference = frame_hashes(tiny)
    assert len(reference) == 21 and frame_hashes(again) == reference
    other = make_demo_dataset(tmp_path / "other", workers=0, **{**TINY, "seed": 4})
    other_hashes = frame_hashes(other)
    assert other_hashes.keys() == reference.keys()
    assert all(other_hashes[k] != reference[k] for k in reference)


def test_train_and_test_windows_of_a_class_are_disjoint(tiny: DemoDatasetInfo) -> None:
    record = json.loads(tiny.json_path.read_text())

    def overlap(a: list[float], b: list[float]) -> bool:
        return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]

    def inside(a: list[float], region: list[float]) -> bool:
        return region[0] <= a[0] and region[1] <= a[1] and a[2] <= region[2] and a[3] <= region[3]

    for cls in record["classes"]:
        videos = [v for v in record["videos"] if v["label"] == cls["label"]]
        boxes = {s: [v["camera"]["bbox"] for v in videos if v["split"] == s] for s in ("train", "test")}
        assert len(boxes["train"]) == 5 and len(boxes["test"]) == 2
        assert not overlap(cls["regions"]["train"], cls["regions"]["test"])
        for split, split_boxes in boxes.items():
            assert all(inside(b, cls["regions"][split]) for b in split_boxes), (cls["name"], split)
        assert not any(overlap(a, b) for a in boxes["train"] for b in boxes["test"]), cls["name"]


@pytest.mark.parametrize(("height", "width"), [(512, 512), (300, 451), (640, 427)])
def test_camera_paths_stay_in_their_region_and_keep_the_frame_aspect(height: int, width: int) -> None:
    regions = scenes.split_regions(height, width)
    long_side = max(height, width)
    train, test = regions["train"], regions["test"]
    gap = (test[1] - train[3]) if width >= height else (test[0] - train[2])
    assert gap == pytest.approx(scenes.GAP_FRACTION * long_side)
    base = scenes.max_window_height(regions, 4 / 3)
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        r = regions[split]
        for _ in range(50):
            w = scenes.camera_path(rng, r, base, 4 / 3, 30)
            assert (w[:, 0] >= r[0] - 1e-9).all() and (w[:, 1] >= r[1] - 1e-9).all()
            assert (w[:, 2] <= r[2] + 1e-9).all() and (w[:, 3] <= r[3] + 1e-9).all()
            np.testing.assert_allclose((w[:, 3] - w[:, 1]) / (w[:, 2] - w[:, 0]), 4 / 3)
            heights = w[:, 2] - w[:, 0]
            assert (heights >= base * scenes.END_SCALE[0] * 0.999).all() and (heights <= base + 1e-9).all()
            assert np.abs(np.diff(w, axis=0)).max() < 0.2 * long_side  # smooth: no jumps between frames


def test_sprite_bounces_inside_the_frame() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        xy = scenes.sprite_path(rng, (32, 48), 10, 25, 200)
        assert xy[:, 0].min() >= 0 and xy[:, 0].max() <= 22 and xy[:, 1].min() >= 0 and xy[:, 1].max() <= 38
        assert np.abs(np.diff(xy, axis=0)).max() <= 2  # at most 1.2 * 32 / 25 px per frame, rounded
        assert len(np.unique(xy, axis=0)) > 10  # it moves


def test_dataset_json_describes_the_dataset(tiny: DemoDatasetInfo) -> None:
    record = json.loads(tiny.json_path.read_text())
    assert record["counts"] == {"train": 15, "test": 6, "total": 21, "classes": 3}
    assert record["params"] == tiny.params and record["params"]["seed"] == 3 and record["params"]["size"] == [32, 48]
    assert [c["name"] for c in record["classes"]] == list(CLASSES)
    assert [c["source"] for c in record["classes"]][0] == "skimage/data/astronaut.png"
    assert "55%" in record["region_split"]
    _, labels = load_digits()
    for v in record["videos"]:
        assert v["frames"] == 8 and v["foreground"]["digit"] == labels[v["foreground"]["digit_index"]]
    by_group: dict[tuple[str, int], set[int]] = {}
    for v in record["videos"]:
        by_group.setdefault((v["path"].split("/")[0], v["group"]), set()).add(v["foreground"]["digit_index"])
    assert all(len(digits) == 1 for digits in by_group.values())  # a group shares its "actor"


def test_reuses_a_complete_dataset_and_refuses_to_clobber(tiny: DemoDatasetInfo, tmp_path: Path) -> None:
    mtimes = {p: p.stat().st_mtime_ns for p in tiny.root.rglob("*")}
    again = make_demo_dataset(tiny.root, workers=0, **TINY)
    assert again.reused and again.classes == tiny.classes and again.num_train == 15
    assert {p: p.stat().st_mtime_ns for p in tiny.root.rglob("*")} == mtimes
    with pytest.raises(FileExistsError, match=re.escape(str(tiny.root))):
        make_demo_dataset(tiny.root, workers=0, **{**TINY, "seed": 9})
    assert {p: p.stat().st_mtime_ns for p in tiny.root.rglob("*")} == mtimes

    small = {**TINY, "videos_per_class_train": 1, "videos_per_class_test": 1, "frames": 4}
    first = make_demo_dataset(tmp_path / "d", workers=0, **small)
    (first.videos_dir / "Chelsea" / "v_Chelsea_g02_c01.mp4").unlink()  # incomplete: no longer reusable
    with pytest.raises(FileExistsError, match="overwrite"):
        make_demo_dataset(tmp_path / "d", workers=0, **small)
    redone = make_demo_dataset(tmp_path / "d", workers=0, overwrite=True, **small)
    assert not redone.reused and (redone.videos_dir / "Chelsea" / "v_Chelsea_g02_c01.mp4").is_file()

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="does not look like a demo dataset"):
        make_demo_dataset(foreign, workers=0, overwrite=True, **small)
    assert (foreign / "notes.txt").read_text() == "keep me"
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="file"):
        make_demo_dataset(tmp_path / "file", workers=0, **small)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "file", "mine"]  # no temporary folder left


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"size": (32, 47)}, "width"),
        ({"size": (8, 48)}, "height"),
        ({"size": (32,)}, "size"),
        ({"frames": 1}, "frames"),
        ({"videos_per_class_train": 0}, "videos_per_class_train"),
        ({"videos_per_class_test": 2.0}, "videos_per_class_test"),
        ({"num_classes": 1}, "num_classes"),
        ({"num_classes": MAX_CLASSES + 1}, "num_classes"),
        ({"seed": -1}, "seed"),
        ({"fps": 0}, "fps"),
        ({"fps": True}, "fps"),
        ({"workers": -1}, "workers"),
        ({"lighting": -0.1}, "lighting"),
        ({"lighting": "0.1"}, "lighting"),
        ({"videos_per_class_train": 400}, "groups"),
    ],
)
def test_bad_arguments_are_rejected_clearly(override: dict[str, Any], field: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=field):
        make_demo_dataset(tmp_path / "out", **{**TINY, "workers": 0, **override})
    assert not any(tmp_path.iterdir())


def test_command_line(tiny: DemoDatasetInfo, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0 and "UCF101" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["--out", str(tiny.root), "--size", "32by48"])
    assert exc.value.code == 2 and "HEIGHTxWIDTH" in capsys.readouterr().err
    args = ["--out", str(tiny.root), "--seed", "3", "--train-per-class", "5", "--test-per-class", "2"]
    args += ["--frames", "8", "--size", "32x48", "--num-classes", "3", "--no-progress"]
    assert main(args) == 0
    assert "reused the existing demo dataset" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main([*args[:-1], "--seed", "5"])
    assert exc.value.code == 2 and "--overwrite" in capsys.readouterr().err


def test_lighting_lookup_table() -> None:
    assert lighting_lut((1.0, 1.0, 1.0), 1.0) is None
    lut = lighting_lut((1.2, 1.0, 0.5), 2.0)
    assert lut is not None and len(lut) == 768
    v = 128 / 255
    assert lut[128] == round(255 * min(1.0, 1.2 * v**2)) and lut[256 + 128] == round(255 * v**2)
    assert lut[512 + 255] == 128 and lut[255] == 255 and lut[0] == lut[256] == lut[512] == 0


def test_sources_are_real_shipped_images() -> None:
    images, labels = load_digits()
    assert images.shape == (1797, 8, 8) and images.max() == 1.0 and set(labels.tolist()) == set(range(10))
    for i, photo in enumerate(PHOTOS):
        array = load_photo(i)
        assert array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3, photo.name
        assert min(array.shape[:2]) <= MAX_SHORT_SIDE and min(array.shape[:2]) >= 250, photo.name
        assert array.std() > 10, photo.name
    colour = [load_photo(i) for i in range(10)]
    assert all(np.abs(a[..., 0].astype(int) - a[..., 2]).mean() > 3 for a in colour)  # the default 10 are colour
