from __future__ import annotations

import math

import pytest
import torch
from backbones_fixtures import pytorchvideo_outputs, reference, seeded_state_dict
from torch import nn

from sce_backbones import build_trunk
from sce_backbones.video_blocks import BasicBranch, BottleneckBranch, ResBlock


@pytest.mark.parametrize(("name", "expected"), [("r3d18", 20_023_872), ("r3d50", 31_634_496)])
def test_parameter_count_matches_fixture(name: str, expected: int) -> None:
    trunk = build_trunk(name)
    assert reference(name)["num_parameters"] == expected
    assert sum(p.numel() for p in trunk.parameters()) == expected


@pytest.mark.parametrize("name", ["r3d18", "r3d50"])
def test_state_dict_keys_and_shapes_match_fixture_in_order(name: str) -> None:
    state = build_trunk(name).state_dict()
    tensors = reference(name)["tensors"]
    assert list(state) == list(tensors)
    for key, shape in tensors.items():
        assert list(state[key].shape) == shape, key


def test_r3d50_computes_pytorchvideo_function() -> None:
    """Outputs recorded from pytorchvideo's own create_resnet(50, stem 1x7x7) with the same seeded weights."""
    ref = pytorchvideo_outputs()
    trunk = build_trunk("r3d50")
    generator = torch.Generator().manual_seed(ref["seed"])
    shapes = {k: v.shape for k, v in trunk.state_dict().items()}
    trunk.load_state_dict(seeded_state_dict(shapes, generator))
    x = torch.randn(ref["input_shape"], generator=generator)
    step = ref["channel_step"]
    for mode in ("eval", "train"):
        trunk.train(mode == "train")
        with torch.no_grad():
            pooled = trunk(x)[:, ::step]
        expected = torch.tensor(ref[f"pooled_{mode}"])
        assert expected.abs().max() > 1.0  # not a degenerate all-zero reference
        torch.testing.assert_close(pooled, expected, rtol=1e-4, atol=1e-4)


def _conv_layout(trunk: nn.Module) -> dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
    return {
        name: (tuple(m.kernel_size), tuple(m.stride), tuple(m.padding))  # type: ignore[arg-type]
        for name, m in trunk.named_modules()
        if isinstance(m, nn.Conv3d)
    }


def test_r3d18_layout_follows_spec() -> None:
    """SPEC 4.1: (3,3,3) conv_a only in stages 3-4, conv_b (1,3,3), spatial stride in conv_a, no temporal stride."""
    layout = _conv_layout(build_trunk("r3d18"))
    assert layout["blocks.0.conv"] == ((1, 7, 7), (1, 2, 2), (0, 3, 3))
    for stage, kernel, pad in [(1, (1, 3, 3), (0, 1, 1)), (2, (1, 3, 3), (0, 1, 1)), (3, (3, 3, 3), (1, 1, 1))]:
        for block in range(2):
            stride = (1, 2, 2) if stage > 1 and block == 0 else (1, 1, 1)
            prefix = f"blocks.{stage}.res_blocks.{block}.branch2"
            assert layout[f"{prefix}.conv_a"] == (kernel, stride, pad)
            assert layout[f"{prefix}.conv_b"] == ((1, 3, 3), (1, 1, 1), (0, 1, 1))
    assert layout["blocks.4.res_blocks.0.branch2.conv_a"] == ((3, 3, 3), (1, 2, 2), (1, 1, 1))
    assert layout["blocks.2.res_blocks.0.branch1_conv"] == ((1, 1, 1), (1, 2, 2), (0, 0, 0))
    assert "blocks.1.res_blocks.0.branch1_conv" not in layout  # no shortcut conv in stage 1
    assert all(stride[0] == 1 for _, stride, _ in layout.values())


def test_r3d50_layout_follows_spec() -> None:
    """SPEC 4.1: conv_a (3,1,1) pad (1,0,0) only in res4/res5; stride on conv_b of the first block of res3-res5."""
    layout = _conv_layout(build_trunk("r3d50"))
    for stage, depth in zip(range(1, 5), (3, 4, 6, 3), strict=True):
        for block in range(depth):
            prefix = f"blocks.{stage}.res_blocks.{block}.branch2"
            conv_a = ((3, 1, 1), (1, 1, 1), (1, 0, 0)) if stage >= 3 else ((1, 1, 1), (1, 1, 1), (0, 0, 0))
            stride = (1, 2, 2) if stage > 1 and block == 0 else (1, 1, 1)
            assert layout[f"{prefix}.conv_a"] == conv_a
            assert layout[f"{prefix}.conv_b"] == ((1, 3, 3), stride, (0, 1, 1))
            assert layout[f"{prefix}.conv_c"] == ((1, 1, 1), (1, 1, 1), (0, 0, 0))
    assert layout["blocks.1.res_blocks.0.branch1_conv"][1] == (1, 1, 1)
    assert layout["blocks.3.res_blocks.0.branch1_conv"][1] == (1, 2, 2)


@pytest.mark.parametrize("name", ["r3d18", "r3d50"])
def test_bn_eps_momentum_and_zero_gamma_init(name: str) -> None:
    trunk = build_trunk(name)
    final_norms, other_norms = [], []
    for module in trunk.modules():
        if isinstance(module, BasicBranch):
            final_norms.append(module.norm_b)
        elif isinstance(module, BottleneckBranch):
            final_norms.append(module.norm_c)
    final_ids = {id(m) for m in final_norms}
    other_norms = [m for m in trunk.modules() if isinstance(m, nn.BatchNorm3d) and id(m) not in final_ids]
    n_blocks = sum(isinstance(m, ResBlock) for m in trunk.modules())
    assert len(final_norms) == n_blocks == (8 if name == "r3d18" else 16)
    for norm in final_norms:
        assert torch.count_nonzero(norm.weight) == 0 and torch.count_nonzero(norm.bias) == 0
    for norm in other_norms:  # stem, norm_a/norm_b, shortcut norms
        assert torch.equal(norm.weight, torch.ones_like(norm.weight)) and torch.count_nonzero(norm.bias) == 0
    for norm in final_norms + other_norms:
        assert norm.eps == 1e-5 and norm.momentum == 0.1


@pytest.mark.parametrize("name", ["r3d18", "r3d50"])
def test_convs_are_kaiming_fan_out(name: str) -> None:
    torch.manual_seed(0)
    trunk = build_trunk(name)
    big = [m for m in trunk.modules() if isinstance(m, nn.Conv3d) and m.weight.numel() > 500_000]
    assert big
    for conv in big:
        fan_out = conv.weight.shape[0] * math.prod(conv.weight.shape[2:])
        assert conv.bias is None
        assert abs(conv.weight.mean().item()) < 1e-3
        assert conv.weight.std().item() == pytest.approx(math.sqrt(2.0 / fan_out), rel=0.02)


def test_zero_gamma_makes_each_block_act_as_its_shortcut() -> None:
    """With γ=0 on the final BN, a block without a shortcut conv is relu(x): a consequence tests can observe."""
    trunk = build_trunk("r3d18").eval()
    block = trunk.blocks[1].res_blocks[1]
    x = torch.randn(1, 64, 2, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(block(x), torch.relu(x))


@pytest.mark.parametrize(("frames", "size"), [(8, 112), (16, 112), (8, 224), (16, 224)])
def test_r3d18_output_shapes(frames: int, size: int) -> None:
    trunk = build_trunk("r3d18").eval()
    x = torch.randn(1, 3, frames, size, size)
    with torch.no_grad():
        fmap = trunk.forward_features(x)
        pooled = trunk(x)
    side = math.ceil(size / 32)
    assert fmap.shape == (1, 512, frames, side, side)  # time is preserved
    assert pooled.shape == (1, trunk.num_features) == (1, 512)
    torch.testing.assert_close(pooled, fmap.mean(dim=(2, 3, 4)))


@pytest.mark.parametrize(("frames", "size"), [(8, 112), (16, 112), (8, 224), (16, 224)])
def test_r3d50_output_shapes_on_meta_device(frames: int, size: int) -> None:
    with torch.device("meta"):
        trunk = build_trunk("r3d50")
        x = torch.empty(2, 3, frames, size, size)
        fmap = trunk.forward_features(x)
        pooled = trunk(x)
    side = math.ceil(size / 32)
    assert fmap.shape == (2, 2048, frames, side, side)
    assert pooled.shape == (2, trunk.num_features) == (2, 2048)


def test_r3d50_small_real_forward_matches_meta_shape() -> None:
    trunk = build_trunk("r3d50").eval()
    with torch.no_grad():
        fmap = trunk.forward_features(torch.randn(1, 3, 4, 64, 64))
    assert fmap.shape == (1, 2048, 4, 2, 2)
    assert torch.isfinite(fmap).all()


@pytest.mark.parametrize("name", ["r3d18", "r3d50"])
def test_channels_last_computes_the_same_function(name: str) -> None:
    torch.manual_seed(0)
    plain = build_trunk(name, channels_last=False).eval()
    fast = build_trunk(name, channels_last=True).eval()
    fast.load_state_dict(plain.state_dict())
    assert fast.blocks[0].conv.weight.is_contiguous(memory_format=torch.channels_last_3d)
    x = torch.randn(2, 3, 2, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), plain(x), rtol=1e-4, atol=1e-5)


def test_in_channels_option() -> None:
    trunk = build_trunk("r3d18", in_channels=2)
    assert trunk.blocks[0].conv.weight.shape == (64, 2, 1, 7, 7)
    with pytest.raises(ValueError, match="in_channels"):
        build_trunk("r3d18", in_channels=0)


@pytest.mark.parametrize(("name", "features"), [("r3d18", 64), ("r3d50", 256)])
def test_width_narrows_every_channel_and_keeps_the_layout(name: str, features: int) -> None:
    """width 8: every channel count of the published trunk (multiples of 64) divided by 8; same keys and kernels."""
    published = build_trunk(name).state_dict()
    narrow_trunk = build_trunk(name, width=8)
    narrow = narrow_trunk.state_dict()
    assert list(narrow) == list(published)
    for key, tensor in published.items():
        expected = tuple(d // 8 if d % 64 == 0 else d for d in tensor.shape)
        assert tuple(narrow[key].shape) == expected, key
    assert _conv_layout(narrow_trunk) == _conv_layout(build_trunk(name))
    assert narrow_trunk.num_features == features
    with torch.no_grad():
        assert narrow_trunk.eval()(torch.randn(2, 3, 2, 32, 32)).shape == (2, features)


def test_width_64_is_the_published_trunk() -> None:
    torch.manual_seed(0)
    default = build_trunk("r3d18")
    torch.manual_seed(0)
    explicit = build_trunk("r3d18", width=64)
    for (key, a), b in zip(default.state_dict().items(), explicit.state_dict().values(), strict=True):
        assert torch.equal(a, b), key


@pytest.mark.parametrize("width", [0, -8, True, 8.0])
def test_width_must_be_a_positive_int(width: object) -> None:
    with pytest.raises(ValueError, match=r"width must be a positive int .*got"):
        build_trunk("r3d18", width=width)
