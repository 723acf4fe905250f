"""Reading the YAML recipes of ``apps/configs/pretrain/`` exactly as the command line does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jsonargparse import ArgumentParser

from sce_apps.pretrain.config import PretrainConfig
from sce_apps.pretrain.program import setup

RECIPES_DIR = Path(__file__).resolve().parents[3] / "configs" / "pretrain"
"""The recipes folder of a source checkout (``apps/configs/pretrain``)."""


def recipe_parser() -> ArgumentParser:
    """The parser of ``sce pretrain`` (fields of :func:`setup`, ``--config`` for YAML files)."""
    parser = ArgumentParser(prog="sce pretrain", exit_on_error=False)
    parser.add_argument("--config", action="config")
    parser.add_function_arguments(setup)
    return parser


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> tuple[PretrainConfig, dict[str, Any]]:
    """Resolve a recipe (plus command-line style ``overrides``) into its settings.

    Returns:
        The :class:`PretrainConfig` and the remaining arguments of :func:`setup` (``out_dir``, ``resume``).
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"recipe not found: {path}")
    parser = recipe_parser()
    namespace = parser.instantiate_classes(parser.parse_args(["--config", str(path), *(overrides or [])]))
    sections = {name: namespace[name] for name in ("data", "model", "sce", "optim", "train", "fabric")}
    return PretrainConfig(**sections), {"out_dir": Path(namespace["out_dir"]), "resume": namespace["resume"]}
