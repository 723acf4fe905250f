from __future__ import annotations

import collections
from pathlib import Path

import pytest
import torch
from backbones_fixtures import reference_state_dict

from sce_backbones import WidthMismatchError, build_trunk, load_trunk_weights, read_state_dict
from sce_backbones.loading import find_prefix


@pytest.fixture(scope="module")
def r3d18_state() -> dict[str, torch.Tensor]:
    return reference_state_dict("r3d18")


def _assert_loaded(trunk: torch.nn.Module, expected: dict[str, torch.Tensor]) -> None:
    state = trunk.state_dict()
    assert set(state) == set(expected)
    for key, value in expected.items():
        assert torch.equal(state[key], value), key


@pytest.mark.parametrize("name", ["r3d18", "r3d50"])
@pytest.mark.parametrize("prefix", ["", "trunk.model."])
def test_fixture_state_dict_loads_strictly(name: str, prefix: str) -> None:
    state = reference_state_dict(name, prefix=prefix)
    trunk = build_trunk(name)
    result = load_trunk_weights(trunk, state, strict=True)
    assert result.prefix == prefix
    assert result.loaded == len(state) and not result.missing_keys and not result.unexpected_keys
    _assert_loaded(trunk, reference_state_dict(name))


def test_authors_pretraining_checkpoint_file(tmp_path: Path, r3d18_state: dict[str, torch.Tensor]) -> None:
    """eztorch/Lightning layout: {"state_dict": {"trunk.model.*", "momentum_trunk.model.*", "projector.*"}, ...}."""
    inner = {f"trunk.model.{k}": v for k, v in r3d18_state.items()}
    inner |= {f"momentum_trunk.model.{k}": torch.zeros_like(v) for k, v in r3d18_state.items()}
    inner["projector.layers.0.weight"] = torch.ones(3, 3)
    path = tmp_path / "pretrain.ckpt"
    torch.save({"epoch": 3, "global_step": 10, "state_dict": inner}, path)
    trunk = build_trunk("r3d18")
    assert load_trunk_weights(trunk, path).prefix == "trunk.model."
    _assert_loaded(trunk, r3d18_state)  # the online trunk, not the momentum one


def test_sce_pretrain_checkpoint_picks_the_online_trunk(tmp_path: Path, r3d18_state: dict[str, torch.Tensor]) -> None:
    """`sce pretrain` layout: {"learner": {"online.trunk.*", "momentum.module.trunk.*", "criterion.queue"}, ...}."""
    learner = {f"online.trunk.{k}": v for k, v in r3d18_state.items()}
    learner |= {f"momentum.module.trunk.{k}": torch.zeros_like(v) for k, v in r3d18_state.items()}
    learner |= {"criterion.queue": torch.ones(8, 4), "online.projector.0.weight": torch.ones(3, 3)}
    path = tmp_path / "step-00000010.ckpt"
    torch.save({"format": "sce-pretrain/1", "step": 10, "learner": learner}, path)
    trunk = build_trunk("r3d18")
    assert load_trunk_weights(trunk, path).prefix == "online.trunk."
    _assert_loaded(trunk, r3d18_state)


def test_released_encoder_file_without_prefix(tmp_path: Path, r3d18_state: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "encoder.pth"
    torch.save(r3d18_state, path)
    trunk = build_trunk("r3d18")
    assert load_trunk_weights(trunk, str(path)).prefix == ""
    _assert_loaded(trunk, r3d18_state)


@pytest.mark.parametrize(
    ("layout", "expected_prefix"),
    [
        (lambda sd: {"trunk": sd, "step": 5}, ""),
        (
            lambda sd: {"model": {f"trunk.{k}": v for k, v in sd.items()} | {"predictor.0.weight": torch.ones(2)}},
            "trunk.",
        ),
        (lambda sd: {f"model.trunk.{k}": v for k, v in sd.items()}, "model.trunk."),
        (lambda sd: {f"module.{k}": v for k, v in sd.items()}, "module."),
        (lambda sd: collections.OrderedDict((f"trunk.{k}", v) for k, v in sd.items()), "trunk."),
    ],
)
def test_our_layouts_and_prefixes(layout, expected_prefix: str, r3d18_state: dict[str, torch.Tensor]) -> None:
    trunk = build_trunk("r3d18")
    assert load_trunk_weights(trunk, layout(r3d18_state)).prefix == expected_prefix
    _assert_loaded(trunk, r3d18_state)


def test_explicit_prefix(r3d18_state: dict[str, torch.Tensor]) -> None:
    trunk = build_trunk("r3d18")
    state = {f"encoder.{k}": v for k, v in r3d18_state.items()}
    assert load_trunk_weights(trunk, state, prefix="encoder.").prefix == "encoder."
    _assert_loaded(trunk, r3d18_state)


def test_wrong_shape_fails_naming_the_key(r3d18_state: dict[str, torch.Tensor]) -> None:
    state = dict(r3d18_state)
    state["blocks.3.res_blocks.0.branch2.conv_a.weight"] = torch.zeros(256, 128, 1, 3, 3)
    trunk = build_trunk("r3d18")
    before = trunk.blocks[0].conv.weight.clone()
    with pytest.raises(ValueError) as info:
        load_trunk_weights(trunk, state)
    message = str(info.value)
    assert (
        "first shape mismatch: blocks.3.res_blocks.0.branch2.conv_a.weight: checkpoint (256, 128, 1, 3, 3)" in message
    )
    assert "vs trunk (256, 128, 3, 3, 3)" in message
    assert torch.equal(trunk.blocks[0].conv.weight, before)  # nothing loaded on failure
    with pytest.raises(ValueError, match="first shape mismatch"):
        load_trunk_weights(build_trunk("r3d18"), state, strict=False)  # shapes are checked even when not strict


def test_a_narrow_checkpoint_names_its_width() -> None:
    narrow = {f"trunk.{k}": v for k, v in build_trunk("r3d18", width=8).state_dict().items()}
    with pytest.raises(WidthMismatchError) as info:
        load_trunk_weights(build_trunk("r3d18"), narrow)
    assert (info.value.checkpoint_width, info.value.trunk_width) == (8, 64)
    message = str(info.value)
    assert "first shape mismatch: blocks.0.conv.weight: checkpoint (8, 3, 1, 7, 7) vs trunk (64, 3, 1, 7, 7)" in message
    assert message.endswith("the checkpoint holds a trunk of width 8, this trunk has width 64 (build it with width=8)")
    result = load_trunk_weights(build_trunk("r3d18", width=8), narrow)
    assert result.prefix == "trunk." and result.loaded == len(narrow)


def test_missing_and_unexpected_keys_are_listed(r3d18_state: dict[str, torch.Tensor]) -> None:
    state = {f"trunk.model.{k}": v for k, v in r3d18_state.items() if k != "blocks.4.res_blocks.1.branch2.norm_b.bias"}
    state["trunk.model.blocks.5.proj.weight"] = torch.zeros(2, 2)
    with pytest.raises(ValueError) as info:
        load_trunk_weights(build_trunk("r3d18"), state)
    message = str(info.value)
    assert "1 missing keys [blocks.4.res_blocks.1.branch2.norm_b.bias]" in message
    assert "1 unexpected keys [blocks.5.proj.weight]" in message
    assert "first shape mismatch: none" in message
    assert "prefix 'trunk.model.'" in message


def test_non_strict_reports_missing_and_unexpected(r3d18_state: dict[str, torch.Tensor]) -> None:
    state = {k: v for k, v in r3d18_state.items() if not k.startswith("blocks.4.")}
    state["head.weight"] = torch.zeros(1)
    trunk = build_trunk("r3d18")
    fresh_stage4 = trunk.blocks[4].res_blocks[0].branch2.conv_a.weight.clone()
    result = load_trunk_weights(trunk, state, strict=False)
    assert result.unexpected_keys == ["head.weight"]
    assert result.missing_keys and all(k.startswith("blocks.4.") for k in result.missing_keys)
    assert torch.equal(trunk.blocks[0].conv.weight, r3d18_state["blocks.0.conv.weight"])
    assert torch.equal(trunk.blocks[4].res_blocks[0].branch2.conv_a.weight, fresh_stage4)


def test_auto_prefix_without_any_match_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"no trunk key found in the checkpoint under any known prefix"):
        load_trunk_weights(build_trunk("resnet18"), {"foo.bar": torch.zeros(1)})


def test_auto_prefix_picks_the_most_matches() -> None:
    expected = ["a.w", "a.b", "c.w"]
    assert find_prefix(expected, ["trunk.a.w", "module.a.w", "module.a.b"]) == "module."
    assert find_prefix(expected, ["trunk.model.a.w", "trunk.model.a.b", "a.w"]) == "trunk.model."


def test_image_trunk_loads_torchvision_style_checkpoint(tmp_path: Path) -> None:
    source = build_trunk("resnet18", small_input=True)
    path = tmp_path / "ours.pt"
    torch.save({"model": {f"trunk.{k}": v for k, v in source.state_dict().items()}, "step": 1}, path)
    target = build_trunk("resnet18", small_input=True)
    load_trunk_weights(target, path)
    _assert_loaded(target, source.state_dict())


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="checkpoint file not found"):
        load_trunk_weights(build_trunk("resnet18"), tmp_path / "nope.pt")


class _Evil:
    def __reduce__(self):  # pragma: no cover - must never run
        return (print, ("unpickled!",))


def test_arbitrary_objects_are_never_unpickled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "payload": _Evil()}, path)
    with pytest.raises(ValueError, match="weights_only=True"):
        read_state_dict(path)
    assert "unpickled!" not in capsys.readouterr().out


def test_garbage_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="garbage.pt"):
        read_state_dict(path)


def test_mapping_without_tensors_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="holds no tensors"):
        read_state_dict({"epoch": 1})
