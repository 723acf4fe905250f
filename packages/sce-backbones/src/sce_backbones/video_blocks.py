"""Building blocks of the R3D trunks, laid out so that state-dict keys match the authors' checkpoints (SPEC 4.1).

The attribute names reproduce the pytorchvideo module tree used by eztorch (``conv``/``norm`` in the stem,
``res_blocks`` in a stage, ``branch1_conv``/``branch1_norm``/``branch2`` in a residual block, ``conv_a``/``norm_a``/...
in a branch), so that ``blocks.1.res_blocks.0.branch2.conv_a.weight`` and friends load without renaming.
"""

from __future__ import annotations

from torch import Tensor, nn

Triple = tuple[int, int, int]

BN_EPS = 1e-5
BN_MOMENTUM = 0.1


def conv3d(
    dim_in: int, dim_out: int, kernel: Triple, stride: Triple = (1, 1, 1), padding: Triple = (0, 0, 0)
) -> nn.Conv3d:
    """A bias-free 3-D convolution."""
    return nn.Conv3d(dim_in, dim_out, kernel_size=kernel, stride=stride, padding=padding, bias=False)


def bn3d(dim: int, *, final: bool = False) -> nn.BatchNorm3d:
    """A 3-D batch norm with eps 1e-5 and momentum 0.1; ``final`` marks the last BN of a residual branch (zero γ)."""
    norm = nn.BatchNorm3d(dim, eps=BN_EPS, momentum=BN_MOMENTUM)
    norm.block_final_bn = final  # type: ignore[assignment]
    return norm


def same_padding(kernel: Triple) -> Triple:
    """Padding ``k // 2`` per dimension (what pytorchvideo uses for every conv and pool here)."""
    return (kernel[0] // 2, kernel[1] // 2, kernel[2] // 2)


class Stem(nn.Module):
    """Conv 1×7×7 stride (1,2,2) → BN → ReLU → MaxPool 1×3×3 stride (1,2,2) (SPEC 4.1)."""

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.conv = conv3d(dim_in, dim_out, (1, 7, 7), (1, 2, 2), (0, 3, 3))
        self.norm = bn3d(dim_out)
        self.activation = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        """Apply the stem."""
        return self.pool(self.activation(self.norm(self.conv(x))))


class BasicBranch(nn.Module):
    """R3D-18 residual branch: conv_a (carries the stride) → BN → ReLU → conv_b (1×3×3) → BN (zero γ)."""

    def __init__(self, dim_in: int, dim_out: int, conv_a_kernel: Triple, stride: Triple) -> None:
        super().__init__()
        self.conv_a = conv3d(dim_in, dim_out, conv_a_kernel, stride, same_padding(conv_a_kernel))
        self.norm_a = bn3d(dim_out)
        self.act_a = nn.ReLU(inplace=True)
        self.conv_b = conv3d(dim_out, dim_out, (1, 3, 3), (1, 1, 1), (0, 1, 1))
        self.norm_b = bn3d(dim_out, final=True)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the branch."""
        return self.norm_b(self.conv_b(self.act_a(self.norm_a(self.conv_a(x)))))


class BottleneckBranch(nn.Module):
    """R3D-50 residual branch: conv_a → BN → ReLU → conv_b 1×3×3 (stride) → BN → ReLU → conv_c 1×1×1 → BN (zero γ)."""

    def __init__(self, dim_in: int, dim_inner: int, dim_out: int, conv_a_kernel: Triple, stride: Triple) -> None:
        super().__init__()
        self.conv_a = conv3d(dim_in, dim_inner, conv_a_kernel, (1, 1, 1), same_padding(conv_a_kernel))
        self.norm_a = bn3d(dim_inner)
        self.act_a = nn.ReLU(inplace=True)
        self.conv_b = conv3d(dim_inner, dim_inner, (1, 3, 3), stride, (0, 1, 1))
        self.norm_b = bn3d(dim_inner)
        self.act_b = nn.ReLU(inplace=True)
        self.conv_c = conv3d(dim_inner, dim_out, (1, 1, 1))
        self.norm_c = bn3d(dim_out, final=True)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the branch."""
        x = self.act_a(self.norm_a(self.conv_a(x)))
        x = self.act_b(self.norm_b(self.conv_b(x)))
        return self.norm_c(self.conv_c(x))


class ResBlock(nn.Module):
    """``relu(shortcut(x) + branch2(x))``; the shortcut is a 1×1×1 conv + BN only when dims or stride change."""

    def __init__(self, branch2: nn.Module, dim_in: int, dim_out: int, stride: Triple) -> None:
        super().__init__()
        self.branch1_conv: nn.Conv3d | None = None
        self.branch1_norm: nn.BatchNorm3d | None = None
        if dim_in != dim_out or stride != (1, 1, 1):
            self.branch1_conv = conv3d(dim_in, dim_out, (1, 1, 1), stride)
            self.branch1_norm = bn3d(dim_out)
        self.branch2 = branch2
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block."""
        shortcut = x
        if self.branch1_conv is not None and self.branch1_norm is not None:
            shortcut = self.branch1_norm(self.branch1_conv(x))
        return self.activation(self.branch2(x) + shortcut)


class ResStage(nn.Module):
    """A sequence of residual blocks stored as ``res_blocks``."""

    def __init__(self, blocks: list[ResBlock]) -> None:
        super().__init__()
        self.res_blocks = nn.ModuleList(blocks)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the blocks in order."""
        for block in self.res_blocks:
            x = block(x)
        return x
