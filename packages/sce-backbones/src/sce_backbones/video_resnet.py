"""The authors' R3D-18 and R3D-50 ("slow-only") video trunks, layer for layer as in SPEC 4.1.

State-dict keys are those of the authors' checkpoints once the ``trunk.model.`` prefix is removed
(``blocks.0.conv.weight``, ``blocks.1.res_blocks.0.branch2.conv_a.weight``, ...).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from sce_backbones.trunk import Trunk
from sce_backbones.video_blocks import BasicBranch, BottleneckBranch, ResBlock, ResStage, Stem, Triple

STEM_DIM = 64
"""Channels of the stem of the published trunks; ``width`` scales the stem and every stage from it."""

# R3D-18 (SPEC 4.1): basic blocks, 2 per stage; temporal kernel only in conv_a of the last two stages.
R3D18_DEPTHS = (2, 2, 2, 2)
R3D18_DIMS = (64, 128, 256, 512)
R3D18_CONV_A_KERNELS: tuple[Triple, ...] = ((1, 3, 3), (1, 3, 3), (3, 3, 3), (3, 3, 3))

# R3D-50 (SPEC 4.1): bottleneck blocks (3, 4, 6, 3); temporal kernel only in conv_a of res4 and res5.
R3D50_DEPTHS = (3, 4, 6, 3)
R3D50_INNER_DIMS = (64, 128, 256, 512)
R3D50_OUT_DIMS = (256, 512, 1024, 2048)
R3D50_CONV_A_KERNELS: tuple[Triple, ...] = ((1, 1, 1), (1, 1, 1), (3, 1, 1), (3, 1, 1))

# Spatial stride of the first block of each stage; no temporal stride anywhere.
STAGE_STRIDES: tuple[Triple, ...] = ((1, 1, 1), (1, 2, 2), (1, 2, 2), (1, 2, 2))


class R3DTrunk(Trunk):
    """A stem and four residual stages stored as ``blocks`` (``blocks.0`` is the stem), then global average pooling.

    Args:
        blocks: the stem followed by the stages.
        num_features: channels of the last stage.
        in_channels: input channels of the stem.
    """

    def __init__(self, blocks: Sequence[nn.Module], num_features: int, in_channels: int) -> None:
        super().__init__(num_features=num_features, input_ndim=5, in_channels=in_channels)
        self.blocks = nn.ModuleList(blocks)

    def features(self, x: Tensor) -> Tensor:
        """Apply the stem and the stages: ``(B, C, T, H, W) -> (B, D, T, H/32, W/32)``."""
        for block in self.blocks:
            x = block(x)
        return x


def init_r3d_weights(module: nn.Module) -> None:
    """The ResNet initialisation of pytorchvideo (SPEC 4.1).

    Conv3d: Kaiming normal, fan-out, ReLU gain, zero bias. BatchNorm: β = 0 and γ = 1, except γ = 0 for the last BN of
    every residual branch (marked ``block_final_bn``). Linear: N(0, 0.01), zero bias.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            if m.weight is not None:
                nn.init.constant_(m.weight, 0.0 if getattr(m, "block_final_bn", False) else 1.0)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _basic_stage(dim_in: int, dim_out: int, depth: int, conv_a_kernel: Triple, stride: Triple) -> ResStage:
    blocks = []
    for i in range(depth):
        block_in, block_stride = (dim_in, stride) if i == 0 else (dim_out, (1, 1, 1))
        branch = BasicBranch(block_in, dim_out, conv_a_kernel, block_stride)
        blocks.append(ResBlock(branch, block_in, dim_out, block_stride))
    return ResStage(blocks)


def _bottleneck_stage(
    dim_in: int, dim_inner: int, dim_out: int, depth: int, conv_a_kernel: Triple, stride: Triple
) -> ResStage:
    blocks = []
    for i in range(depth):
        block_in, block_stride = (dim_in, stride) if i == 0 else (dim_out, (1, 1, 1))
        branch = BottleneckBranch(block_in, dim_inner, dim_out, conv_a_kernel, block_stride)
        blocks.append(ResBlock(branch, block_in, dim_out, block_stride))
    return ResStage(blocks)


def r3d18(*, in_channels: int = 3, width: int = STEM_DIM, channels_last: bool = False) -> R3DTrunk:
    """The authors' R3D-18 (eztorch ``create_resnet3d_basic(model_depth=18)``): 512-d features, 20,023,872 parameters.

    Args:
        in_channels: input channels (3 for RGB).
        width: channels of the stem; the stages have ``width`` × (1, 2, 4, 8) and the features ``8 × width``. 64 is
            the published trunk (SPEC 4.1); a smaller width gives the same architecture, narrower (quick trials,
            tests: width 8 has 1/64 of the parameters).
        channels_last: use the ``channels_last_3d`` memory format (same function, different speed).
    """
    _check_positive_int("in_channels", in_channels)
    _check_positive_int("width", width, " (64 for the published trunks)")
    dims = _scaled(R3D18_DIMS, width)
    blocks: list[nn.Module] = [Stem(in_channels, width)]
    dim_in = width
    for dim, depth, kernel, stride in zip(dims, R3D18_DEPTHS, R3D18_CONV_A_KERNELS, STAGE_STRIDES, strict=True):
        blocks.append(_basic_stage(dim_in, dim, depth, kernel, stride))
        dim_in = dim
    trunk = R3DTrunk(blocks, num_features=dims[-1], in_channels=in_channels)
    init_r3d_weights(trunk)
    return trunk.set_channels_last(channels_last)  # type: ignore[return-value]


def r3d50(*, in_channels: int = 3, width: int = STEM_DIM, channels_last: bool = False) -> R3DTrunk:
    """The authors' R3D-50, pytorchvideo's slow-only ResNet-50 with a 1×7×7 stem: 2048-d, 31,634,496 parameters.

    Args:
        in_channels: input channels (3 for RGB).
        width: channels of the stem; the stages have inner widths ``width`` × (1, 2, 4, 8), outputs four times those,
            and the features ``32 × width``. 64 is the published trunk (SPEC 4.1).
        channels_last: use the ``channels_last_3d`` memory format (same function, different speed).
    """
    _check_positive_int("in_channels", in_channels)
    _check_positive_int("width", width, " (64 for the published trunks)")
    inner_dims, out_dims = _scaled(R3D50_INNER_DIMS, width), _scaled(R3D50_OUT_DIMS, width)
    blocks: list[nn.Module] = [Stem(in_channels, width)]
    dim_in = width
    stages = zip(inner_dims, out_dims, R3D50_DEPTHS, R3D50_CONV_A_KERNELS, STAGE_STRIDES, strict=True)
    for inner, out, depth, kernel, stride in stages:
        blocks.append(_bottleneck_stage(dim_in, inner, out, depth, kernel, stride))
        dim_in = out
    trunk = R3DTrunk(blocks, num_features=out_dims[-1], in_channels=in_channels)
    init_r3d_weights(trunk)
    return trunk.set_channels_last(channels_last)  # type: ignore[return-value]


def _check_positive_int(name: str, value: int, note: str = "") -> None:
    """Raise ``ValueError("<name> must be a positive int<note>, got <value>")`` unless ``value`` is an int >= 1."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int{note}, got {value!r}")


def _scaled(dims: tuple[int, ...], width: int) -> tuple[int, ...]:
    """``dims`` of the published trunk (stem width 64) for a stem of ``width`` channels."""
    return tuple(d * width // STEM_DIM for d in dims)
