"""An empty build is a problem for `info` and `verify`; `--out` naming a file is one clear line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from sce_video_data import shard_info, verify_shards
from sce_video_data.cli import main


@pytest.fixture
def empty_build(tmp_path: Path) -> Path:
    """A build whose only input is not a video: the folder exists, with no item."""
    (tmp_path / "videos" / "a").mkdir(parents=True)
    (tmp_path / "videos" / "a" / "broken.mp4").write_bytes(b"not a video")
    out = tmp_path / "shards"
    assert (
        main(["build", "--layout", "folders", "--root", str(tmp_path / "videos"), "--out", str(out), "--no-progress"])
        == 1
    )
    return out


def test_info_and_verify_report_an_empty_build(empty_build: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert any("holds no item" in p and "failures.jsonl" in p for p in shard_info(empty_build)["problems"])
    assert any("holds no item" in p for p in verify_shards(empty_build))
    capsys.readouterr()
    assert main(["info", str(empty_build)]) == 1
    assert main(["verify", str(empty_build)]) == 1
    assert "holds no item" in capsys.readouterr().err


def test_out_naming_a_file_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "videos").mkdir()
    target = tmp_path / "out.txt"
    target.write_text("keep me")
    status = main(["build", "--layout", "folders", "--root", str(tmp_path / "videos"), "--out", str(target)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and str(target) in err[0] and "shard folder" in err[0]
    assert target.read_text() == "keep me"
