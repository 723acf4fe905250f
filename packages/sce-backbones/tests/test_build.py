from __future__ import annotations

import doctest
import importlib

import pytest
import torch

import sce_backbones
from sce_backbones import TRUNK_NAMES, Trunk, build_trunk, trunk_options


def test_trunk_names() -> None:
    assert set(TRUNK_NAMES) == {"r3d18", "r3d50", "r2plus1d18", "resnet18", "resnet50"}


@pytest.mark.parametrize("name", ["r3d18", "r3d50", "r2plus1d18", "resnet18", "resnet50"])
def test_every_trunk_is_a_trunk(name: str) -> None:
    with torch.device("meta"):
        trunk = build_trunk(name)
    assert isinstance(trunk, Trunk)
    assert trunk.num_features in (512, 2048)
    assert "channels_last" in trunk_options(name)


def test_options_per_trunk() -> None:
    assert trunk_options("r3d18") == ["in_channels", "width", "channels_last"]
    assert trunk_options("resnet50") == ["small_input", "channels_last"]
    assert trunk_options("r2plus1d18") == ["channels_last"]


def test_unknown_name_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown trunk name 'r3d34'.*r3d18"):
        build_trunk("r3d34")


def test_unknown_option_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['small_input'\] for trunk 'r3d18'"):
        build_trunk("r3d18", small_input=True)


@pytest.mark.parametrize(
    ("name", "shape"),
    [("r3d18", (1, 3, 8, 8)), ("r3d18", (1, 4, 2, 8, 8)), ("resnet18", (1, 3, 2, 8, 8)), ("resnet18", (1, 1, 8, 8))],
)
def test_bad_input_shape_is_a_clear_error(name: str, shape: tuple[int, ...]) -> None:
    with torch.device("meta"):
        trunk = build_trunk(name)
        with pytest.raises(ValueError, match=r"expects input of layout .* got shape"):
            trunk(torch.empty(shape))


@pytest.mark.parametrize("module", ["build", "heads", "momentum", "sync_bn"])
def test_docstring_examples_run(module: str) -> None:
    mod = importlib.import_module(f"sce_backbones.{module}")
    result = doctest.testmod(mod, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0


def test_public_api() -> None:
    for name in sce_backbones.__all__:
        assert hasattr(sce_backbones, name), name
