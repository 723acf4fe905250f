"""Projector and predictor MLP heads (SPEC 2.2, eztorch ``MLPHead`` with the SCE configs).

Every linear layer is bias-free and uses PyTorch's default initialisation. The projector has BN after every linear
layer, the last one non-affine; the predictor has BN after its hidden layer only. Sizes: 1024 hidden for R3D-18,
4096 for ResNet-50 / R3D-50; 256-d output for both.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def _check_dims(**dims: int) -> None:
    for name, value in dims.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


class Projector(nn.Sequential):
    """``in_dim → [Linear → BN → ReLU] × len(hidden_dims) → Linear → BN(out_dim, affine=False)``, no biases.

    Args:
        in_dim: size of the trunk features (512 for R3D-18/ResNet-18, 2048 for R3D-50/ResNet-50).
        hidden_dims: sizes of the hidden layers ((1024, 1024) for R3D-18, (4096, 4096) for the 50-layer trunks).
        out_dim: size of the embedding (256).

    Examples:
        >>> import torch
        >>> Projector(512)(torch.randn(4, 512)).shape
        torch.Size([4, 256])
    """

    def __init__(self, in_dim: int, hidden_dims: Sequence[int] = (1024, 1024), out_dim: int = 256) -> None:
        hidden = list(hidden_dims)
        _check_dims(in_dim=in_dim, out_dim=out_dim, **{f"hidden_dims[{i}]": d for i, d in enumerate(hidden)})
        layers: list[nn.Module] = []
        dim = in_dim
        for width in hidden:
            layers += [nn.Linear(dim, width, bias=False), nn.BatchNorm1d(width), nn.ReLU(inplace=True)]
            dim = width
        layers += [nn.Linear(dim, out_dim, bias=False), nn.BatchNorm1d(out_dim, affine=False)]
        super().__init__(*layers)
        self.in_dim = in_dim
        self.out_dim = out_dim


class Predictor(nn.Sequential):
    """``in_dim → Linear → BN → ReLU → Linear → out_dim``, no biases, no output BN (online branch only).

    Args:
        in_dim: size of the projector output (256).
        hidden_dim: hidden size (1024 for R3D-18, 4096 for the 50-layer trunks).
        out_dim: size of the prediction (256).

    Examples:
        >>> import torch
        >>> Predictor()(torch.randn(4, 256)).shape
        torch.Size([4, 256])
    """

    def __init__(self, in_dim: int = 256, hidden_dim: int = 1024, out_dim: int = 256) -> None:
        _check_dims(in_dim=in_dim, hidden_dim=hidden_dim, out_dim=out_dim)
        super().__init__(
            nn.Linear(in_dim, hidden_dim, bias=False),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, out_dim, bias=False),
        )
        self.in_dim = in_dim
        self.out_dim = out_dim
