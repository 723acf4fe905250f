"""Shard provenance: a content hash of the finished set, from the manifest's checksums, with the build parameters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sce_video_data import cli, content_hash, shard_provenance
from sce_video_data.indexes import folders_index
from sce_video_data.shards.build import build_shards
from sce_video_data.shards.encoding import EncodeParams
from sce_video_data.synthetic import write_index_video

pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")


@pytest.fixture(scope="module")
def video_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("provenance_videos") / "MyCopy"
    for rel, frames in (("a/x.mp4", 12), ("b/y.mp4", 9)):
        write_index_video(root / rel, frames, fps=10, width=64, height=48)
    return root


def _build(root: Path, out: Path, quality: int = 90, split: str | None = "train 1") -> Path:
    items, classes = folders_index(root)
    params = EncodeParams(short_side=32, quality=quality)
    build_shards(items, classes, root, out, params=params, progress=False, split=split, layout="folders")
    return out


def test_same_bytes_same_hash_and_every_change_moves_it(video_root: Path, tmp_path: Path) -> None:
    first = shard_provenance(_build(video_root, tmp_path / "one"))
    again = shard_provenance(_build(video_root, tmp_path / "two"))
    assert first["content_hash"].startswith("sha256:") and len(first["content_hash"]) == 7 + 64
    assert again["content_hash"] == first["content_hash"]  # the build time is not part of it
    other = shard_provenance(_build(video_root, tmp_path / "q80", quality=80))
    assert other["content_hash"] != first["content_hash"]
    expected = {
        "layout": "folders",
        "split": "train 1",
        "short_side": 32,
        "fps": None,
        "quality": 90,
        "source_root_name": "MyCopy",
        "num_inputs": 2,
        "num_items": 2,
        "num_failures": 0,
        "num_classes": 2,
        "num_frames": 21,
        "format_version": 2,
    }
    assert {k: first[k] for k in expected} == expected
    assert first["writer"].startswith("sce-video-data ")


def test_the_hash_follows_the_checksums(video_root: Path, tmp_path: Path) -> None:
    out = _build(video_root, tmp_path / "shards")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["provenance"] == shard_provenance(out)  # recorded by the build, and recomputed the same
    assert manifest["provenance"]["content_hash"] == content_hash(manifest)
    changed = json.loads(json.dumps(manifest))
    changed["shards"][0]["sha256"] = "0" * 64  # one shard file with other bytes
    assert content_hash(changed) != content_hash(manifest)
    relabelled = json.loads(json.dumps(manifest))
    relabelled["index"]["item_label.npy"]["sha256"] = "1" * 64  # other labels
    assert content_hash(relabelled) != content_hash(manifest)
    older = {k: v for k, v in manifest.items() if k not in ("provenance", "split")}  # a build before the record
    (out / "manifest.json").write_text(json.dumps(older))
    record = shard_provenance(out)
    assert record["content_hash"] == manifest["provenance"]["content_hash"] and record["split"] is None


def test_info_prints_the_record(video_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _build(video_root, tmp_path / "shards")
    assert cli.main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"content: {shard_provenance(out)['content_hash']}" in text
    assert "source: layout folders, split train 1, from 'MyCopy' (2 inputs, 0 failed), sce-video-data" in text


def test_cli_build_records_the_split(tmp_path: Path) -> None:
    root = tmp_path / "UCF"
    for name in ("Archery", "Bowling"):
        for group in (1, 2):
            write_index_video(root / name / f"v_{name}_g0{group}_c01.avi", 6, fps=10, width=64, height=48)
    splits = tmp_path / "lists"
    splits.mkdir()
    (splits / "classInd.txt").write_text("1 Archery\n2 Bowling\n")
    (splits / "trainlist02.txt").write_text("Archery/v_Archery_g02_c01.avi 1\nBowling/v_Bowling_g02_c01.avi 2\n")
    (splits / "testlist02.txt").write_text("Archery/v_Archery_g01_c01.avi\nBowling/v_Bowling_g01_c01.avi\n")
    args = ["build", "--layout", "ucf101", "--root", str(root), "--splits", str(splits), "--split", "test"]
    assert cli.main([*args, "--split-id", "2", "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    record = shard_provenance(tmp_path / "out")
    assert (record["layout"], record["split"], record["num_items"]) == ("ucf101", "test 2", 2)
