"""Settings shared by every program: value checks that name the field, and the Fabric section."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["FabricConfig", "non_negative", "positive", "probability"]


def positive(owner: str, **values: float) -> None:
    """Raise ``ValueError("<owner>.<name> must be positive, got <value>")`` for the first value that is not > 0."""
    for name, value in values.items():
        if value <= 0:
            raise ValueError(f"{owner}.{name} must be positive, got {value}")


def non_negative(owner: str, **values: float) -> None:
    """Raise ``ValueError("<owner>.<name> must be >= 0, got <value>")`` for the first negative value."""
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"{owner}.{name} must be >= 0, got {value}")


def probability(owner: str, **values: float) -> None:
    """Raise ``ValueError`` naming ``<owner>.<name>`` for the first value outside [0, 1]."""
    for name, value in values.items():
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{owner}.{name} must be in [0, 1], got {value}")


@dataclass
class FabricConfig:
    """Devices, strategy and precision (overridden by ``fabric run`` flags when launched that way)."""

    accelerator: str = "auto"
    """cpu, cuda, mps or auto."""
    devices: int | str = 1
    """Devices per node (an int, or "auto")."""
    num_nodes: int = 1
    """Nodes (SLURM is detected by Fabric)."""
    strategy: str = "auto"
    """auto, ddp, ddp_spawn, ... (FSDP is not supported: every model here is small enough for DDP)."""
    precision: str = "32-true"
    """32-true, bf16-mixed or 16-mixed (SPEC: the authors used fp16 AMP)."""
    sync_batchnorm: bool = True
    """Synchronise BN statistics over all devices when distributed (SPEC 2.5, 5.3); also works on CPU/gloo."""
    compile: bool = False
    """torch.compile the trunks."""

    def launch_settings(self) -> dict[str, Any]:
        """The ``Fabric`` arguments (``launch_fabric``); ``sync_batchnorm`` and ``compile`` are the programs' own."""
        return {
            "accelerator": self.accelerator,
            "devices": self.devices,
            "num_nodes": self.num_nodes,
            "strategy": self.strategy,
            "precision": self.precision,
        }
