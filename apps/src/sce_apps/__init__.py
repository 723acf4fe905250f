"""sce-apps: SCE programs on Lightning Fabric."""

from sce_apps.__about__ import __version__

__all__ = ["__version__"]
