"""Reading the pretraining recipes (``sce_apps/configs/pretrain/``, package data) exactly as the command line does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sce_apps.pretrain.config import PretrainConfig
from sce_apps.pretrain.program import setup
from sce_apps.recipes import find_recipe, parse_recipe, recipes_dir

RECIPES_DIR = recipes_dir("pretrain")
"""The pretraining recipes folder of the installed package (``sce_apps/configs/pretrain``)."""

SECTIONS = ("data", "model", "sce", "optim", "train", "fabric", "monitor")


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> tuple[PretrainConfig, dict[str, Any]]:
    """Resolve a recipe (a path, or a name such as ``"demo"``) plus command-line style ``overrides`` into settings.

    Returns:
        The :class:`PretrainConfig` and the remaining arguments of :func:`setup` (``out_dir``, ``resume``).
    """
    namespace = parse_recipe(setup, "sce pretrain", find_recipe("pretrain", path), overrides)
    sections = {name: namespace[name] for name in SECTIONS}
    return PretrainConfig(**sections), {"out_dir": Path(namespace["out_dir"]), "resume": namespace["resume"]}
