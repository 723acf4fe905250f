"""Building a Fabric that also works under ``fabric run`` (whose flags win, and which has launched the processes)."""

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
