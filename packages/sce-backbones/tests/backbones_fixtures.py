"""Readers of the reference fixtures (keys/shapes of the authors' trunks, pytorchvideo outputs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

FIXTURES = Path(__file__).parent / "fixtures"


def reference(name: str) -> dict[str, Any]:
    """The fixture ``<name>_reference_state_dict.json`` (description, num_parameters, tensors: key -> shape)."""
    return json.loads((FIXTURES / f"{name}_reference_state_dict.json").read_text())


def reference_state_dict(name: str, prefix: str = "", seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict with the fixture's keys (under ``prefix``) and shapes, filled with seeded random values."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in reference(name)["tensors"].items():
        if key.endswith("num_batches_tracked"):
            out[prefix + key] = torch.tensor(7)
        else:
            out[prefix + key] = torch.rand(shape, generator=g) + 0.5
    return out


def seeded_state_dict(shapes: dict[str, torch.Size], generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Same recipe as ``fixtures/make_pytorchvideo_reference.py`` (must stay identical)."""
    out = {}
    for key, shape in shapes.items():
        if key.endswith("num_batches_tracked"):
            out[key] = torch.tensor(0)
        elif key.endswith("running_var") or (len(shape) == 1 and key.endswith("weight")):
            out[key] = torch.rand(shape, generator=generator) + 0.5
        elif len(shape) > 1:
            out[key] = torch.randn(shape, generator=generator) * shape[1:].numel() ** -0.5
        else:
            out[key] = torch.randn(shape, generator=generator) * 0.1
    return out


def pytorchvideo_outputs() -> dict[str, Any]:
    """Outputs of pytorchvideo's slow-only ResNet-50 recorded by ``fixtures/make_pytorchvideo_reference.py``."""
    return json.loads((FIXTURES / "r3d50_pytorchvideo_outputs.json").read_text())
