from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from sce_retrieval import FeatureBank


def make_bank(n: int = 6, dtype: type = np.float32, thumbnails: bool = True) -> FeatureBank:
    rng = np.random.default_rng(0)
    return FeatureBank(
        rng.standard_normal((n, 5)).astype(dtype),
        rng.integers(-3, 3, n),
        ids=[f"video_{i}.mp4" for i in range(n)],
        class_names=["a", "b", "ç"],
        metadata={"model": "r3d18", "epoch": 200, "nested": {"views": [10, 3]}},
        thumbnails=rng.integers(0, 256, (n, 4, 6, 3), dtype=np.uint8) if thumbnails else None,
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_round_trip_keeps_every_field(tmp_path: Path, dtype: type) -> None:
    bank = make_bank(dtype=dtype)
    path = bank.save(tmp_path / "bank.npz")
    loaded = FeatureBank.load(path)
    assert loaded.features.dtype == dtype
    np.testing.assert_array_equal(loaded.features, bank.features)
    np.testing.assert_array_equal(loaded.labels, bank.labels)
    assert loaded.labels.dtype == np.int64
    assert loaded.ids == bank.ids and loaded.class_names == ["a", "b", "ç"]
    assert loaded.metadata == {"model": "r3d18", "epoch": 200, "nested": {"views": [10, 3]}}
    np.testing.assert_array_equal(loaded.thumbnails, bank.thumbnails)
    assert len(loaded) == 6 and loaded.dim == 5


def test_defaults_and_conversions(tmp_path: Path) -> None:
    bank = FeatureBank(torch.ones(3, 2, dtype=torch.float64), torch.tensor([1, 2, 3]))
    assert bank.features.dtype == np.float32 and bank.ids == ["0", "1", "2"] and bank.metadata == {}
    loaded = FeatureBank.load(bank.save(tmp_path / "b.npz"))
    assert loaded.class_names is None and loaded.thumbnails is None and loaded.ids == ["0", "1", "2"]
    empty = FeatureBank.load(FeatureBank(np.zeros((0, 4), np.float32), []).save(tmp_path / "e.npz"))
    assert len(empty) == 0 and empty.dim == 4


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_bank().save(tmp_path / "bank.npz")
    before = path.read_bytes()

    def broken_savez(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        make_bank(n=9).save(path)
    assert path.read_bytes() == before  # the old file is intact
    assert os.listdir(tmp_path) == ["bank.npz"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"features": np.ones((3,), np.float32)}, "features: expected a 2-D"),
        ({"features": np.ones((3, 2), np.int32)}, "features: expected floating-point"),
        ({"labels": [0, 1]}, "labels: has 2 labels but the features have 3 rows"),
        ({"ids": ["a", "b"]}, "ids: has 2 entries"),
        ({"ids": [1, 2, 3]}, "ids: expected strings"),
        ({"class_names": [1]}, "class_names: expected a list of strings"),
        ({"metadata": {"x": object()}}, "metadata: must be JSON-serialisable"),
        ({"metadata": [1]}, "metadata: expected a dict"),
        ({"thumbnails": np.zeros((3, 4, 4), np.uint8)}, r"thumbnails: expected uint8 \(N, h, w, 3\)"),
        ({"thumbnails": np.zeros((2, 4, 4, 3), np.uint8)}, "thumbnails: has 2 images"),
        ({"features": np.array([[1.0, np.nan]] * 3, np.float32)}, "features: row 0 contains NaN"),
    ],
)
def test_bad_fields_are_clear_errors(kwargs: dict, message: str) -> None:
    args = {"features": np.ones((3, 2), np.float32), "labels": [0, 1, 2]} | kwargs
    with pytest.raises(ValueError, match=message):
        FeatureBank(**args)


def test_load_errors_name_the_file_and_field(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.npz: feature bank file not found"):
        FeatureBank.load(tmp_path / "missing.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="text.npz: not a feature bank file"):
        FeatureBank.load(tmp_path / "text.npz")
    np.savez(tmp_path / "partial.npz", features=np.ones((2, 2), np.float32))
    missing = r"partial.npz: not a feature bank file .*: missing field\(s\) \['labels', 'ids', 'header'\]"
    with pytest.raises(ValueError, match=missing):
        FeatureBank.load(tmp_path / "partial.npz")
    good = {"features": np.ones((2, 2), np.float32), "labels": np.array([0, 1]), "ids": np.array(["a", "b"])}
    np.savez(tmp_path / "other.npz", header=np.array(json.dumps({"format": "else"})), **good)
    with pytest.raises(ValueError, match="other.npz: field 'header' does not describe"):
        FeatureBank.load(tmp_path / "other.npz")
    header = json.dumps({"format": "sce-feature-bank", "version": 1, "class_names": None, "metadata": {}})
    np.savez(tmp_path / "short.npz", header=np.array(header), **(good | {"labels": np.array([0])}))
    with pytest.raises(ValueError, match="short.npz: labels: has 1 labels but the features have 2 rows"):
        FeatureBank.load(tmp_path / "short.npz")


def test_pickled_fields_are_refused(tmp_path: Path) -> None:
    header = json.dumps({"format": "sce-feature-bank", "version": 1, "class_names": None, "metadata": {}})
    np.savez(
        tmp_path / "pickled.npz",
        features=np.ones((2, 2), np.float32),
        labels=np.array([0, 1]),
        ids=np.array(["a", {"evil": 1}], dtype=object),
        header=np.array(header),
    )
    with pytest.raises(ValueError, match="pickled.npz: not a readable feature bank"):
        FeatureBank.load(tmp_path / "pickled.npz")
    assert zipfile.is_zipfile(tmp_path / "pickled.npz")
