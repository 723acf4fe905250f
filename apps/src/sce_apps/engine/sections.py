"""The settings sections every program shares (``fabric``, ``train``, ``optim``) and value checks naming the field.

A program's own sections (``data``, ``model``, ``sce``) live with the program; these three are the same type in
every program, only their defaults differ (given in each program's signature and recipes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["FabricConfig", "OptimConfig", "TrainConfig", "non_negative", "positive", "probability"]


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
    cpu_threads: int | None = None
    """torch intra-op CPU threads per process; None sizes them from the CPUs this process is granted (affinity and
    cgroup quota) shared among the processes of the node and their loader workers (docs: "CPU threads")."""

    def __post_init__(self) -> None:
        if self.cpu_threads is not None and self.cpu_threads < 1:
            raise ValueError(f"fabric.cpu_threads must be >= 1 or null, got {self.cpu_threads}")

    def launch_settings(self) -> dict[str, Any]:
        """The ``Fabric`` arguments (``launch_fabric``); ``sync_batchnorm`` and ``compile`` are the programs' own."""
        return {
            "accelerator": self.accelerator,
            "devices": self.devices,
            "num_nodes": self.num_nodes,
            "strategy": self.strategy,
            "precision": self.precision,
        }


@dataclass
class OptimConfig:
    """Optimizer and its per-step schedule: linear warmup from 0, then cosine to 0 (SPEC 2.7, 5.1-5.3).

    Defaults are those of pretraining (SPEC 2.7); the evaluation programs set theirs in their signatures.
    """

    name: Literal["lars", "sgd"] = "lars"
    """LARS (trust coefficient, no decay or adaptation for 1-D parameters) or plain SGD (no Nesterov)."""
    initial_lr: float = 2.4
    """LR before the batch scaling; the peak LR is initial_lr × global_batch / 256 when scale_lr is set."""
    scale_lr: bool = True
    """Apply the linear scaling rule."""
    weight_decay: float = 1e-6
    """Weight decay (LARS: only on parameters with ndim > 1; 0 in every evaluation protocol)."""
    momentum: float = 0.9
    """Heavy-ball momentum."""
    trust_coefficient: float = 1e-3
    """LARS η (unused by SGD)."""
    warmup_epochs: float = 35
    """Linear warmup from 0, in epochs (converted to steps); 0 for none."""

    def __post_init__(self) -> None:
        positive("optim", initial_lr=self.initial_lr, trust_coefficient=self.trust_coefficient)
        probability("optim", momentum=self.momentum)
        non_negative("optim", weight_decay=self.weight_decay, warmup_epochs=self.warmup_epochs)


@dataclass
class TrainConfig:
    """Run length, batch, periodic work (checkpoints, validation or monitor, logs) and the seed."""

    global_batch_size: int = 512
    """Samples per optimizer step over all devices (split evenly)."""
    max_epochs: int = 200
    """Epochs; steps per epoch = training samples // global batch (SPEC 2.1), which fixes the schedules."""
    max_steps: int | None = None
    """Cap on the total steps (the schedules then span the capped run)."""
    checkpoint_every_epochs: float = 1.0
    """Save a checkpoint every N epochs (and always at the end); the pretraining recipes: 50 on K400, 100 on K200
    and ImageNet."""
    checkpoint_every_steps: int | None = None
    """Also save a checkpoint every N steps."""
    keep_checkpoints: int = 2
    """Most recent periodic checkpoints kept on disk (``best.ckpt`` of the classifiers is kept apart)."""
    val_every_epochs: int = 5
    """Classifiers: validate every N epochs; pretraining: run the k-NN monitor every N epochs (when
    ``monitor`` is set). Both also run after the last step."""
    log_every_steps: int = 10
    """Log training metrics every N steps."""
    seed: int = 42
    """Seed of everything (SPEC 2.7): initialisation, sample order, augmentations, held-out split."""

    def __post_init__(self) -> None:
        positive(
            "train",
            global_batch_size=self.global_batch_size,
            max_epochs=self.max_epochs,
            checkpoint_every_epochs=self.checkpoint_every_epochs,
            keep_checkpoints=self.keep_checkpoints,
            val_every_epochs=self.val_every_epochs,
            log_every_steps=self.log_every_steps,
        )
        for name in ("max_steps", "checkpoint_every_steps"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"train.{name} must be positive or null, got {value}")
