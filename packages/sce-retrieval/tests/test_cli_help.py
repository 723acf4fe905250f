"""`sce-retrieval --help` and `--version`: what the command says about itself."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pytest

from sce_retrieval import FeatureBank, __version__
from sce_retrieval.cli import build_parser, main


@pytest.fixture
def help_text(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    """The full `--help` output (on a wide terminal, so that no help text is wrapped)."""
    monkeypatch.setenv("COLUMNS", "300")
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def option_lines(text: str) -> dict[str, str]:
    """``{first option string: its invocation and help text on one line}`` of the options section."""
    lines: dict[str, str] = {}
    option = None
    for line in text.split("options:", 1)[1].splitlines():
        match = re.match(r"^  (-{1,2}[\w-]+)", line)
        if match:
            option = match.group(1)
            lines[option] = line.rstrip()
        elif option and line.strip():
            lines[option] += " " + line.strip()  # help text continued below a long invocation
    return lines


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"sce-retrieval {__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)


def test_help_shows_no_meaningless_defaults(help_text: str) -> None:
    assert "(default: None)" not in help_text
    assert "(default: True)" not in help_text and "(default: False)" not in help_text
    lines = option_lines(help_text)
    for option in ("--query", "--bank"):
        assert lines[option].endswith("(required)"), lines[option]
    assert lines["--ks"].endswith("(default: 1 5 10 20 50)")
    assert lines["--knn-k"].endswith("(default: 20)")
    for option in ("--json", "--plot"):
        assert "(default:" not in lines[option]


def test_switches_read_naturally(help_text: str) -> None:
    lines = option_lines(help_text)
    for name, what in (("center", "centre"), ("normalize", "normalise")):
        line = lines[f"--{name}"]
        assert f"--{name}, --no-{name}" in line
        assert what in line and "on by default" in line
    parser = build_parser()
    base = ["--query", "q.npz", "--bank", "b.npz"]
    assert vars(parser.parse_args(base))["center"] is True
    assert parser.parse_args(base).normalize is True
    assert parser.parse_args([*base, "--no-center"]).center is False
    assert parser.parse_args([*base, "--no-normalize"]).normalize is False
    assert parser.parse_args([*base, "--no-center", "--center"]).center is True


def test_every_option_has_a_help_text(help_text: str) -> None:
    actions = [action for action in build_parser()._actions if action.option_strings]
    assert {"--version", "--center", "--no-center"} <= {s for action in actions for s in action.option_strings}
    for action in actions:
        assert action.help and action.help is not argparse.SUPPRESS, action.option_strings
        assert action.help.strip() in help_text


def test_no_center_still_reaches_the_search(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    bank = FeatureBank(rng.standard_normal((10, 4)).astype(np.float32), np.arange(10) % 2).save(tmp_path / "b.npz")
    query = FeatureBank(rng.standard_normal((1, 4)).astype(np.float32), [0]).save(tmp_path / "q.npz")
    argv = ["--query", str(query), "--bank", str(bank), "--ks", "1", "--knn-k", "0", "--backend", "torch"]
    assert main(argv) == 2  # a single query is zero after centring on its own mean
    assert "zero after centring" in capsys.readouterr().err
    assert main([*argv, "--no-center"]) == 0
    assert "L2-normalised" in capsys.readouterr().out
