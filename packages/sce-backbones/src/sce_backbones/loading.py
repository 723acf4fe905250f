"""Load trunk weights from our checkpoints, the authors' pretraining checkpoints and their released encoder files.

Supported layouts (the trunk's own keys are ``blocks.0.conv.weight``, ``conv1.weight``, ...):

* the authors' pretraining checkpoints: ``{"state_dict": {"trunk.model.<key>": ...}}``;
* the authors' released encoder files: ``{"<key>": ...}``;
* our pretraining checkpoints (``sce pretrain``): ``{"learner": {"online.trunk.<key>": ...,
  "momentum.module.trunk.<key>": ...}}``, whose online trunk ``prefix="auto"`` picks (SPEC 5.1); also
  ``{"trunk": {"<key>": ...}}`` or ``{"model": {"trunk.<key>": ...}}``;
* any state dict whose keys carry one of :data:`KNOWN_PREFIXES` (e.g. ``module.`` from DDP).

Files are read with ``torch.load(..., weights_only=True)``: no arbitrary object is ever unpickled.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

KNOWN_PREFIXES: tuple[str, ...] = ("trunk.model.", "online.trunk.", "model.trunk.", "trunk.", "module.", "")
"""Prefixes tried by ``prefix="auto"``, most specific first (ties go to the earlier one)."""

CONTAINER_KEYS: tuple[str, ...] = ("state_dict", "learner", "trunk", "model")
"""Entries that hold the state dict inside a checkpoint, looked up in this order."""

_MAX_LISTED = 20


@dataclass(frozen=True)
class LoadResult:
    """What :func:`load_trunk_weights` did.

    Attributes:
        prefix: the key prefix that was stripped.
        loaded: number of tensors copied into the trunk.
        missing_keys: trunk keys absent from the source (always empty when ``strict=True``).
        unexpected_keys: source keys (prefix stripped) the trunk does not have (empty when ``strict=True``).
    """

    prefix: str
    loaded: int
    missing_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)


def read_state_dict(source: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Tensor]:
    """Return the flat ``{key: tensor}`` state dict held by ``source`` (a path or a mapping).

    Container entries (:data:`CONTAINER_KEYS` holding a mapping) are unwrapped, first match first, until none is left;
    the non-tensor entries of the final mapping (a step counter, ...) are ignored.

    Raises:
        FileNotFoundError: if the path does not exist.
        ValueError: if the file cannot be read safely or holds no tensors.
    """
    label = "state dict"
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        label = str(path)
        data: Any = _load_file(path)
    else:
        data = source
    for _ in range(4):
        if not isinstance(data, Mapping):
            raise ValueError(f"{label}: expected a mapping of tensors, got {type(data).__name__}")
        inner = next((data[k] for k in CONTAINER_KEYS if isinstance(data.get(k), Mapping)), None)
        if inner is None:
            break
        data = inner
    tensors = {str(k): v for k, v in data.items() if isinstance(v, Tensor)}
    if not tensors:
        raise ValueError(f"{label}: holds no tensors (top-level keys: {sorted(map(str, data))[:_MAX_LISTED]})")
    return tensors


def _load_file(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(
            f"{path}: cannot be loaded with weights_only=True (it holds non-tensor objects): {err}"
        ) from err
    except (RuntimeError, EOFError) as err:
        raise ValueError(f"{path}: not a readable torch checkpoint: {err}") from err


def find_prefix(expected: list[str], source_keys: list[str], candidates: tuple[str, ...] = KNOWN_PREFIXES) -> str:
    """Return the candidate prefix under which most ``expected`` keys appear in ``source_keys``.

    Raises:
        ValueError: if no candidate matches a single key.
    """
    available = set(source_keys)
    counts = [sum(1 for key in expected if prefix + key in available) for prefix in candidates]
    best = max(range(len(candidates)), key=lambda i: (counts[i], -i))
    if counts[best] == 0:
        raise ValueError(
            f"no trunk key found in the checkpoint under any known prefix {list(candidates)}; trunk keys look like "
            f"{expected[:3]}, checkpoint keys look like {sorted(source_keys)[:5]}"
        )
    return candidates[best]


def _format_keys(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED])
    more = f", ... ({len(keys) - _MAX_LISTED} more)" if len(keys) > _MAX_LISTED else ""
    return f"[{shown}{more}]"


def _first_shape_mismatch(expected: Mapping[str, Tensor], given: Mapping[str, Tensor]) -> str | None:
    for key, tensor in expected.items():
        if key in given and given[key].shape != tensor.shape:
            return f"{key}: checkpoint {tuple(given[key].shape)} vs trunk {tuple(tensor.shape)}"
    return None


STEM_KEY = "blocks.0.conv.weight"
"""The stem convolution of the R3D trunks; its output channels are the trunk's ``width``."""


class WidthMismatchError(ValueError):
    """The checkpoint holds an R3D trunk of another ``width`` than the trunk it is loaded into.

    Attributes:
        checkpoint_width: stem channels of the checkpoint's trunk.
        trunk_width: stem channels of the trunk being filled.
    """

    def __init__(self, message: str, checkpoint_width: int, trunk_width: int) -> None:
        super().__init__(message)
        self.checkpoint_width = checkpoint_width
        self.trunk_width = trunk_width


def _stem_widths(expected: Mapping[str, Any], given: Mapping[str, Any]) -> tuple[int, int] | None:
    """(checkpoint, trunk) stem channels of two R3D state dicts when they differ, else None."""
    if STEM_KEY not in expected or STEM_KEY not in given:
        return None
    theirs, ours = int(given[STEM_KEY].shape[0]), int(expected[STEM_KEY].shape[0])
    return (theirs, ours) if theirs != ours else None


def load_trunk_weights(
    trunk: nn.Module,
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    prefix: str = "auto",
    strict: bool = True,
) -> LoadResult:
    """Copy the trunk tensors of a checkpoint into ``trunk``.

    Args:
        trunk: the module to fill (e.g. from :func:`sce_backbones.build_trunk`).
        source: a checkpoint path or an (already loaded) checkpoint / state dict; see the module docstring.
        prefix: the key prefix of the trunk tensors in the checkpoint, or ``"auto"`` to pick the known prefix
            (:data:`KNOWN_PREFIXES`) under which most trunk keys are found.
        strict: when true, every trunk key must be present and no other key may share the prefix.

    Returns:
        A :class:`LoadResult` with the prefix used and any missing/unexpected keys (non-strict mode).

    Raises:
        FileNotFoundError: if ``source`` is a path that does not exist.
        WidthMismatchError: (a ``ValueError``) the checkpoint holds an R3D trunk of another ``width``.
        ValueError: if no prefix matches, if a shape differs (always), or, when ``strict``, if keys are missing or
            unexpected; the message lists the missing and unexpected keys and the first shape mismatch.
    """
    state = read_state_dict(source)
    expected = trunk.state_dict()
    if prefix == "auto":
        prefix = find_prefix(list(expected), list(state))
    given = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    mismatch = _first_shape_mismatch(expected, given)
    if mismatch is not None or (strict and (missing or unexpected)):
        message = (
            f"checkpoint does not match {type(trunk).__name__} (prefix {prefix!r}): "
            f"{len(missing)} missing keys {_format_keys(missing)}; "
            f"{len(unexpected)} unexpected keys {_format_keys(unexpected)}; "
            f"first shape mismatch: {mismatch or 'none'}"
        )
        widths = _stem_widths(expected, given)
        if widths is not None:
            raise WidthMismatchError(
                f"{message}; the checkpoint holds a trunk of width {widths[0]}, this trunk has width {widths[1]} "
                f"(build it with width={widths[0]})",
                *widths,
            )
        raise ValueError(message)
    trunk.load_state_dict({k: v for k, v in given.items() if k in expected}, strict=False)
    return LoadResult(
        prefix=prefix, loaded=len(given) - len(unexpected), missing_keys=missing, unexpected_keys=unexpected
    )
