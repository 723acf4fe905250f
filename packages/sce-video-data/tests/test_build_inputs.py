"""What `sce-shards build` does with hostile or odd inputs: paths leading outside the videos root are refused (one
line naming the split file and line, exit 2); names that are not UTF-8 and symlink loops are listed in failures.jsonl
while the rest is built."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from sce_video_data.cli import main
from sce_video_data.indexes import folders_index, hmdb51_index, kinetics_csv_index, list_index, ucf101_index
from sce_video_data.shards.build import build_shards
from sce_video_data.shards.reader import ShardReader
from sce_video_data.synthetic import write_index_video

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="byte file names and symlinks (Linux)"),
    pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning"),
]


def _video(path: Path, frames: int = 5) -> None:
    write_index_video(path, frames, width=48, height=32)


def _build(root: Path, out: Path, *extra: str) -> int:
    return main(["build", "--root", str(root), "--out", str(out), "--workers", "0", "--no-progress", *extra])


def _failures(out: Path) -> list[tuple[str, str]]:
    return [(f["path"], f["reason"]) for f in map(json.loads, (out / "failures.jsonl").read_text().splitlines())]


def test_split_line_outside_the_root_is_one_line_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, splits = tmp_path / "ucf101", tmp_path / "splits"
    _video(root / "Chelsea" / "in.mp4")
    _video(tmp_path / "elsewhere" / "x.mp4")
    splits.mkdir()
    (splits / "classInd.txt").write_text("1 Chelsea\n")
    (splits / "trainlist01.txt").write_text("Chelsea/in.mp4 1\n\nChelsea/../../elsewhere/x.mp4 1\n")
    status = _build(root, tmp_path / "out", "--layout", "ucf101", "--splits", str(splits))
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1, err
    assert "trainlist01.txt line 3: 'Chelsea/../../elsewhere/x.mp4' resolves outside the videos root" in err[0]
    assert str(root) in err[0] and not (tmp_path / "out").exists()


def test_every_index_refuses_paths_outside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "videos"
    (root / "wave").mkdir(parents=True)
    (tmp_path / "secret.mp4").write_bytes(b"")
    (tmp_path / "classInd.txt").write_text("1 wave\n")
    (tmp_path / "testlist01.txt").write_text("wave/a.mp4\nwave/../../secret.mp4\n")
    with pytest.raises(ValueError, match=r"testlist01.txt line 2: 'wave/\.\./\.\./secret.mp4' resolves outside"):
        ucf101_index(tmp_path, "test", 1, videos_root=root)
    assert ucf101_index(tmp_path, "test", 1)[0][1] == ("wave/../../secret.mp4", 0)  # no root given: no check
    (tmp_path / "wave_test_split1.txt").write_text("a.avi 1\n../../secret.mp4 1\n")
    with pytest.raises(ValueError, match="wave_test_split1.txt line 2: 'wave/../../secret.mp4'"):
        hmdb51_index(tmp_path, "train", 1, videos_root=root)
    (tmp_path / "train.txt").write_text(f"wave/a.mp4 0\n{tmp_path / 'secret.mp4'} 0\n")  # an absolute path
    with pytest.raises(ValueError, match="train.txt line 2: .* resolves outside the videos root"):
        list_index(tmp_path / "train.txt", videos_root=root)
    (root / "wave" / "abcdefghijk.mp4").symlink_to(tmp_path / "secret.mp4")  # a symlink leading out
    (tmp_path / "k.csv").write_text("label,youtube_id,time_start,time_end,split\nwave,abcdefghijk,0,10,train\n")
    with pytest.raises(ValueError, match=r"k.csv line 2: 'wave/abcdefghijk.mp4' resolves outside .*secret.mp4"):
        kinetics_csv_index(tmp_path / "k.csv", root)
    with pytest.raises(ValueError, match="'wave/abcdefghijk.mp4' resolves outside the videos root"):
        folders_index(root)
    with pytest.raises(ValueError, match="'wave/../../secret.mp4' resolves outside the videos root"):
        build_shards([("wave/../../secret.mp4", 0)], ["wave"], root, tmp_path / "out", progress=False)


def test_symlinks_inside_the_root_are_accepted(tmp_path: Path) -> None:
    root = tmp_path / "videos"
    _video(root / "store" / "real.mp4", 7)
    (root / "c").mkdir()
    (root / "c" / "link.mp4").symlink_to("../store/real.mp4")
    (root / "c" / "more").symlink_to("../store", target_is_directory=True)
    (tmp_path / "train.txt").write_text("c/link.mp4 0\nc/../store/real.mp4 0\n")
    assert _build(root, tmp_path / "list", "--layout", "kinetics", "--splits", str(tmp_path / "train.txt")) == 0
    assert len(ShardReader(tmp_path / "list")) == 2
    items, names = folders_index(root)
    assert names == ["c", "store"] and items == [("c/link.mp4", 0), ("c/more/real.mp4", 0), ("store/real.mp4", 1)]


def test_names_that_are_not_utf8_are_failures_and_the_rest_is_built(tmp_path: Path) -> None:
    root = tmp_path / "videos"
    base = os.fsencode(root)
    _video(root / "a" / "good.mp4")
    _video(root / "d" / "fine.mp4")
    shutil.copyfile(root / "a" / "good.mp4", base + b"/a/bad\xff.mp4")  # file names that are not UTF-8
    os.makedirs(base + b"/caf\xe9")
    shutil.copyfile(root / "a" / "good.mp4", base + b"/caf\xe9/v.mp4")
    out = tmp_path / "out"
    assert _build(root, out, "--layout", "folders", "--items-per-shard", "2") == 0
    reason = "file name is not valid UTF-8"
    assert sorted(_failures(out)) == [("a/bad\\xff.mp4", reason), ("caf\\xe9/v.mp4", reason)]
    manifest = json.loads((out / "manifest.json").read_text())
    assert [i["path"] for i in manifest["items"]] == ["a/good.mp4", "d/fine.mp4"]
    assert manifest["class_names"] == ["a", "caf\\xe9", "d"] and manifest["num_inputs"] == 4
    assert [ShardReader(out).item(i).label for i in range(2)] == [0, 2]
    # the same in a split file: its byte that is not UTF-8 names a file, which is listed, the rest is built
    (tmp_path / "train.txt").write_bytes(b"a/good.mp4 0\na/bad\xff.mp4 0\n")
    listed = tmp_path / "listed"
    assert _build(root, listed, "--layout", "kinetics", "--splits", str(tmp_path / "train.txt")) == 0
    assert _failures(listed) == [("a/bad\\xff.mp4", reason)] and len(ShardReader(listed)) == 1


def test_symlink_loops_are_failures_and_the_rest_is_built(tmp_path: Path) -> None:
    root = tmp_path / "videos"
    _video(root / "c" / "v.mp4")
    _video(root / "d" / "w.mp4")
    (root / "c" / "self.mp4").symlink_to("self.mp4")  # points at itself
    (root / "c" / "ping.mp4").symlink_to("pong.mp4")  # a cycle of two links
    (root / "c" / "pong.mp4").symlink_to("ping.mp4")
    (root / "c" / "sub").mkdir()
    (root / "c" / "sub" / "up").symlink_to("../..", target_is_directory=True)  # the videos root: a folder above
    (root / "all").symlink_to(".", target_is_directory=True)  # a class folder that is the root itself
    out = tmp_path / "out"
    assert _build(root, out, "--layout", "folders") == 0
    loops = ["all", "c/ping.mp4", "c/pong.mp4", "c/self.mp4", "c/sub/up"]
    assert _failures(out) == [(path, "symlink loop") for path in loops]
    reader = ShardReader(out)
    assert reader.class_names == ["c", "d"] and len(reader) == 2
    problems: list[tuple[str, str]] = []
    assert folders_index(root, problems=problems) == ([("c/v.mp4", 0), ("d/w.mp4", 1)], ["c", "d"])
    assert [path for path, _ in problems] == loops
