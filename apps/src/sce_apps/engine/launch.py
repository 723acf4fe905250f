"""Launching: a Fabric that also works under ``fabric run``, and the record of what was really launched.

Under ``fabric run`` its flags win over the settings, and it has already started the processes.
"""

from __future__ import annotations

import os
from typing import Any

from lightning_fabric import Fabric

CLI_ENVIRONMENT = {
    "accelerator": "LT_ACCELERATOR",
    "strategy": "LT_STRATEGY",
    "devices": "LT_DEVICES",
    "num_nodes": "LT_NUM_NODES",
    "precision": "LT_PRECISION",
}
"""The variables through which ``fabric run`` passes its flags to the processes it launches."""


def launched_by_fabric_cli() -> bool:
    """Whether this process was started by ``fabric run``."""
    return os.environ.get("LT_CLI_USED") == "1"


def fabric_arguments(**settings: Any) -> dict[str, Any]:
    """Fabric's constructor arguments; under ``fabric run`` the flags given to it win over ``settings``."""
    if not launched_by_fabric_cli():
        return settings
    overridden = {name for name, variable in CLI_ENVIRONMENT.items() if variable in os.environ}
    return {name: value for name, value in settings.items() if name not in overridden}


def launch_fabric(**settings: Any) -> Fabric:
    """A launched Fabric (processes created, distributed environment ready) from ``settings`` and any ``fabric run``."""
    fabric = Fabric(**fabric_arguments(**settings))
    if not launched_by_fabric_cli():  # `fabric run` has already created the processes
        fabric.launch()
    return fabric


STRATEGY_NAMES = {"SingleDeviceStrategy": "auto", "DDPStrategy": "ddp", "FSDPStrategy": "fsdp"}
ACCELERATOR_NAMES = {"CPUAccelerator": "cpu", "CUDAAccelerator": "cuda", "MPSAccelerator": "mps"}


def what_ran(fabric: Fabric, cpu_threads: int) -> dict[str, Any]:
    """What the launched job really is (world size, nodes, strategy, precision, ...), whatever the settings said.

    Under ``fabric run``, ``torchrun`` or SLURM the launcher's flags decide these, not the recipe's ``fabric``
    section; the engine writes this into the saved settings and every checkpoint.
    """
    num_nodes = int(getattr(fabric.strategy, "num_nodes", 1))
    return {
        "world_size": fabric.world_size,
        "num_nodes": num_nodes,
        "devices_per_node": fabric.world_size // max(1, num_nodes),
        "accelerator": ACCELERATOR_NAMES.get(type(fabric.accelerator).__name__, type(fabric.accelerator).__name__),
        "strategy": STRATEGY_NAMES.get(type(fabric.strategy).__name__, type(fabric.strategy).__name__),
        "precision": str(getattr(fabric.strategy.precision, "precision", "32-true")),
        "launcher": launcher_name(),
        "cpu_threads": cpu_threads,
    }


def launcher_name() -> str:
    """``fabric run``, ``torchrun``, ``slurm`` or ``fabric`` (Fabric started the processes itself)."""
    if launched_by_fabric_cli():
        return "fabric run"
    if "TORCHELASTIC_RUN_ID" in os.environ:
        return "torchrun"
    if "SLURM_JOB_ID" in os.environ and "SLURM_PROCID" in os.environ:
        return "slurm"
    return "fabric"
