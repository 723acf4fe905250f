"""`sce-shards --version` and a `build --help` that explains itself (description, defaults, every option)."""

from __future__ import annotations

import pytest

from sce_video_data import __version__
from sce_video_data.cli import main


def _output(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 0
    return capsys.readouterr().out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert _output(capsys, ["--version"]).strip() == f"sce-shards {__version__}"


def test_build_help_describes_the_command_and_its_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    text = " ".join(_output(capsys, ["build", "--help"]).split())
    assert "Decode every video" in text and "failures.jsonl" in text and "ucf101 (classInd.txt" in text
    for default in ("(default: train)", "(default: 128)", "(default: 90)", "(default: 1GiB)", "(default: 1)"):
        assert default in text
    assert "(default: None)" not in text
    assert "--layout {folders,hmdb51,imagefolder,kinetics,ucf101} how the dataset lists its inputs" in text
    assert "--split {train,val,test} which split to store" in text
