"""The trunk a program builds from its settings.

One place turns ``trunk``, ``small_input`` and ``trunk_width`` into ``sce_backbones.build_trunk`` options, and checks
them where the settings are parsed.
"""

from __future__ import annotations

from typing import Any

from sce_backbones import TRUNK_NAMES, Trunk, WidthMismatchError, build_trunk, trunk_options

PUBLISHED_WIDTH = 64
"""Stem channels of the published R3D trunks (SPEC 4.1), the default of every ``trunk_width`` setting."""

WIDTH_TRUNKS = tuple(name for name in TRUNK_NAMES if "width" in trunk_options(name))
"""Trunks whose width can be changed (those whose builder takes ``width``: r3d18, r3d50)."""


def check_trunk_width(owner: str, trunk: str, width: int) -> None:
    """Refuse a ``trunk_width`` that is not a positive int, or that differs from 64 for a trunk without a width.

    Args:
        owner: the settings section, for the message (``"model"``, ``"features"``).
        trunk: the trunk name of the same section.
        width: its ``trunk_width``.

    Raises:
        ValueError: naming ``<owner>.trunk_width``, its value and what is accepted.
    """
    name = f"{owner}.trunk_width"
    if not isinstance(width, int) or isinstance(width, bool) or width < 1:
        raise ValueError(f"{name} must be a positive int ({PUBLISHED_WIDTH} for the published trunks), got {width!r}")
    if width != PUBLISHED_WIDTH and trunk not in WIDTH_TRUNKS:
        raise ValueError(
            f"{name}={width} applies to {' and '.join(WIDTH_TRUNKS)} only; {trunk} has the width of its paper "
            f"(leave {name} at {PUBLISHED_WIDTH})"
        )


def build_program_trunk(trunk: str, *, small_input: bool = False, width: int = PUBLISHED_WIDTH) -> Trunk:
    """A freshly initialised trunk as a program's settings describe it.

    Args:
        trunk: a ``sce_backbones`` trunk name.
        small_input: image trunks: the CIFAR stem (ignored by trunks without that option).
        width: R3D trunks: channels of the stem (ignored by trunks without that option; checked beforehand by
            :func:`check_trunk_width`).
    """
    settings: dict[str, Any] = {"small_input": small_input, "width": width}
    accepted = trunk_options(trunk)
    return build_trunk(trunk, **{name: value for name, value in settings.items() if name in accepted})


def width_mismatch_message(owner: str, checkpoint: str, trunk: str, error: WidthMismatchError) -> str:
    """The user's line for a checkpoint whose R3D trunk has another width than ``<owner>.trunk_width``."""
    return (
        f"{owner}.checkpoint {checkpoint} holds a {trunk} trunk of width {error.checkpoint_width}; set "
        f"{owner}.trunk_width={error.checkpoint_width} (now {error.trunk_width}), as the pretraining run's "
        "model.trunk_width"
    )
