"""Trunks taken from torchvision: image ResNet-18/50 (SPEC 3.2) and R(2+1)D-18.

The torchvision layers are registered directly on the trunk, so state-dict keys are torchvision's own
(``conv1.weight``, ``layer1.0.bn1.weight``, ``stem.0.weight``, ...) minus the removed classifier ``fc``.
Nothing is downloaded: every network is built with ``weights=None``.
"""

from __future__ import annotations

from torch import Tensor, nn
from torchvision.models import ResNet
from torchvision.models import resnet18 as tv_resnet18
from torchvision.models import resnet50 as tv_resnet50
from torchvision.models.video import VideoResNet
from torchvision.models.video import r2plus1d_18 as tv_r2plus1d_18

from sce_backbones.trunk import Trunk


class ImageResNetTrunk(Trunk):
    """torchvision ResNet without ``avgpool``/``fc``: ``(B, 3, H, W) -> (B, D, H', W')``, then global average pooling.

    Args:
        net: a torchvision ``ResNet`` whose layers are reused.
        num_features: channels of ``layer4``.
    """

    def __init__(self, net: ResNet, num_features: int) -> None:
        super().__init__(num_features=num_features, input_ndim=4, in_channels=3)
        self.conv1: nn.Module = net.conv1
        self.bn1: nn.Module = net.bn1
        self.relu: nn.Module = net.relu
        self.maxpool: nn.Module = net.maxpool
        self.layer1 = net.layer1
        self.layer2 = net.layer2
        self.layer3 = net.layer3
        self.layer4 = net.layer4

    def features(self, x: Tensor) -> Tensor:
        """Apply the stem and the four stages."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class R2Plus1DTrunk(Trunk):
    """torchvision R(2+1)D-18 without ``avgpool``/``fc``: ``(B, 3, T, H, W) -> (B, 512, T/8, H/16, W/16)``."""

    def __init__(self, net: VideoResNet) -> None:
        super().__init__(num_features=512, input_ndim=5, in_channels=3)
        self.stem: nn.Module = net.stem
        self.layer1 = net.layer1
        self.layer2 = net.layer2
        self.layer3 = net.layer3
        self.layer4 = net.layer4

    def features(self, x: Tensor) -> Tensor:
        """Apply the stem and the four stages."""
        return self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))


def _small_input_stem(trunk: ImageResNetTrunk) -> None:
    """CIFAR stem (SPEC 3.2): conv1 becomes 3×3 stride 1, no max-pool.

    As in eztorch's ``create_resnet(small_input=True)``, the new conv keeps PyTorch's default initialisation.
    """
    trunk.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    trunk.maxpool = nn.Identity()


def resnet18(*, small_input: bool = False, channels_last: bool = False) -> ImageResNetTrunk:
    """The torchvision ResNet-18 trunk (512-d features), torchvision's default initialisation.

    Args:
        small_input: use the CIFAR stem (3×3 stride-1 conv1, no max-pool).
        channels_last: use the ``channels_last`` memory format.
    """
    trunk = ImageResNetTrunk(tv_resnet18(weights=None), num_features=512)
    if small_input:
        _small_input_stem(trunk)
    return trunk.set_channels_last(channels_last)  # type: ignore[return-value]


def resnet50(*, small_input: bool = False, channels_last: bool = False) -> ImageResNetTrunk:
    """The torchvision ResNet-50 trunk (2048-d features), torchvision's default initialisation (SPEC 3.2).

    Args:
        small_input: use the CIFAR stem (3×3 stride-1 conv1, no max-pool).
        channels_last: use the ``channels_last`` memory format.
    """
    trunk = ImageResNetTrunk(tv_resnet50(weights=None), num_features=2048)
    if small_input:
        _small_input_stem(trunk)
    return trunk.set_channels_last(channels_last)  # type: ignore[return-value]


def r2plus1d18(*, channels_last: bool = False) -> R2Plus1DTrunk:
    """The torchvision R(2+1)D-18 trunk (512-d features); unlike R3D it downsamples time by 8.

    This is torchvision's network (45-channel (2+1)D stem), not eztorch's ``create_r2plus1d_18`` variant, which no
    published SCE result uses.

    Args:
        channels_last: use the ``channels_last_3d`` memory format.
    """
    return R2Plus1DTrunk(tv_r2plus1d_18(weights=None)).set_channels_last(channels_last)  # type: ignore[return-value]
