"""Reading the YAML recipes of ``apps/configs/pretrain/`` exactly as the command line does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sce_apps.pretrain.config import PretrainConfig
from sce_apps.pretrain.program import setup
from sce_apps.recipes import CONFIGS_DIR, parse_recipe

RECIPES_DIR = CONFIGS_DIR / "pretrain"
"""The pretraining recipes folder of a source checkout (``apps/configs/pretrain``)."""

SECTIONS = ("data", "model", "sce", "optim", "train", "fabric")


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> tuple[PretrainConfig, dict[str, Any]]:
    """Resolve a recipe (plus command-line style ``overrides``) into its settings.

    Returns:
        The :class:`PretrainConfig` and the remaining arguments of :func:`setup` (``out_dir``, ``resume``).
    """
    namespace = parse_recipe(setup, "sce pretrain", path, overrides)
    sections = {name: namespace[name] for name in SECTIONS}
    return PretrainConfig(**sections), {"out_dir": Path(namespace["out_dir"]), "resume": namespace["resume"]}
