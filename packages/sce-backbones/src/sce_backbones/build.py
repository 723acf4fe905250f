"""``build_trunk(name, **options)``: the one entry point that builds a trunk by name."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from sce_backbones.torchvision_trunks import r2plus1d18, resnet18, resnet50
from sce_backbones.trunk import Trunk
from sce_backbones.video_resnet import r3d18, r3d50

TRUNK_BUILDERS: dict[str, Callable[..., Trunk]] = {
    "r3d18": r3d18,
    "r3d50": r3d50,
    "r2plus1d18": r2plus1d18,
    "resnet18": resnet18,
    "resnet50": resnet50,
}
"""Trunk name -> builder. Video trunks: r3d18, r3d50, r2plus1d18. Image trunks: resnet18, resnet50."""


def trunk_options(name: str) -> list[str]:
    """Names of the keyword options accepted by the trunk ``name``."""
    builder = _builder(name)
    return [p.name for p in inspect.signature(builder).parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]


def build_trunk(name: str, **options: Any) -> Trunk:
    """Build a freshly initialised trunk by name.

    Args:
        name: one of ``"r3d18"``, ``"r3d50"``, ``"r2plus1d18"``, ``"resnet18"``, ``"resnet50"``.
        **options: keyword options of that trunk: ``in_channels`` and ``width`` (r3d*), ``small_input`` (resnet*)
            and ``channels_last`` (all).

    Returns:
        A :class:`~sce_backbones.trunk.Trunk`: ``trunk(x)`` gives ``(B, trunk.num_features)`` pooled features and
        ``trunk.forward_features(x)`` the map before pooling.

    Raises:
        ValueError: for an unknown name or option.

    Examples:
        >>> import torch
        >>> trunk = build_trunk("r3d18")
        >>> trunk.num_features
        512
        >>> trunk(torch.zeros(1, 3, 2, 32, 32)).shape
        torch.Size([1, 512])
    """
    builder = _builder(name)
    accepted = trunk_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for trunk {name!r}; accepted options: {accepted}")
    return builder(**options)


def _builder(name: str) -> Callable[..., Trunk]:
    if name not in TRUNK_BUILDERS:
        raise ValueError(f"unknown trunk name {name!r}; expected one of {sorted(TRUNK_BUILDERS)}")
    return TRUNK_BUILDERS[name]
