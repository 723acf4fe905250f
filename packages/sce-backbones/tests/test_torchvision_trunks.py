from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from sce_backbones import build_trunk


@pytest.mark.parametrize(("name", "dim"), [("resnet18", 512), ("resnet50", 2048)])
def test_image_trunk_keys_are_torchvision_without_fc(name: str, dim: int) -> None:
    reference = getattr(torchvision.models, name)(weights=None).state_dict()
    trunk = build_trunk(name)
    assert list(trunk.state_dict()) == [k for k in reference if not k.startswith("fc.")]
    assert trunk.num_features == dim


@pytest.mark.parametrize(("name", "dim"), [("resnet18", 512), ("resnet50", 2048)])
def test_image_trunk_matches_torchvision_features(name: str, dim: int) -> None:
    torch.manual_seed(0)
    reference = getattr(torchvision.models, name)(weights=None).eval()
    reference.fc = nn.Identity()
    trunk = build_trunk(name).eval()
    trunk.load_state_dict(reference.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out = trunk(x)
        torch.testing.assert_close(out, reference(x))
        assert trunk.forward_features(x).shape == (2, dim, 2, 2)
    assert out.shape == (2, dim)


def test_small_input_stem() -> None:
    trunk = build_trunk("resnet18", small_input=True).eval()
    assert trunk.conv1.kernel_size == (3, 3) and trunk.conv1.stride == (1, 1) and trunk.conv1.padding == (1, 1)
    assert trunk.conv1.bias is None
    assert isinstance(trunk.maxpool, nn.Identity)
    with torch.no_grad():
        fmap = trunk.forward_features(torch.randn(2, 3, 32, 32))
    assert fmap.shape == (2, 512, 4, 4)  # 32 / 8: no stride in the stem
    default = build_trunk("resnet18").eval()
    with torch.no_grad():
        assert default.forward_features(torch.randn(2, 3, 32, 32)).shape == (2, 512, 1, 1)


def test_resnet_init_is_torchvision_default() -> None:
    trunk = build_trunk("resnet50")
    last_bns = [b.bn3 for b in trunk.layer1]  # zero_init_residual=False: γ stays 1
    assert all(torch.equal(bn.weight, torch.ones_like(bn.weight)) for bn in last_bns)


def test_r2plus1d18_keys_and_real_forward() -> None:
    trunk = build_trunk("r2plus1d18").eval()
    reference = torchvision.models.video.r2plus1d_18(weights=None).state_dict()
    assert list(trunk.state_dict()) == [k for k in reference if not k.startswith("fc.")]
    with torch.no_grad():
        fmap = trunk.forward_features(torch.randn(1, 3, 8, 112, 112))
    assert fmap.shape == (1, 512, 1, 7, 7)
    assert trunk.num_features == 512


@pytest.mark.parametrize(("frames", "size"), [(8, 112), (16, 112), (8, 224), (16, 224)])
def test_r2plus1d18_shapes_on_meta(frames: int, size: int) -> None:
    with torch.device("meta"):
        trunk = build_trunk("r2plus1d18")
        x = torch.empty(2, 3, frames, size, size)
        assert trunk.forward_features(x).shape == (2, 512, frames // 8, size // 16, size // 16)
        assert trunk(x).shape == (2, 512)


def test_image_channels_last_same_function() -> None:
    torch.manual_seed(0)
    plain = build_trunk("resnet18").eval()
    fast = build_trunk("resnet18", channels_last=True).eval()
    fast.load_state_dict(plain.state_dict())
    assert fast.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), plain(x), rtol=1e-4, atol=1e-5)
