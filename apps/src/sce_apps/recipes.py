"""Reading the YAML recipes of ``apps/configs/`` exactly as the command line of each program does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from jsonargparse import ArgumentParser, Namespace

CONFIGS_DIR = Path(__file__).resolve().parents[2] / "configs"
"""The recipes folder of a source checkout (``apps/configs``: ``pretrain/``, ``linear/``, ``finetune/``,
``extract/``)."""


def recipe_parser(program: Callable[..., Any], prog: str) -> ArgumentParser:
    """The parser of a program's command line (the fields of ``program``, ``--config`` for YAML files)."""
    parser = ArgumentParser(prog=prog, exit_on_error=False)
    parser.add_argument("--config", action="config")
    parser.add_function_arguments(program)
    return parser


def parse_recipe(
    program: Callable[..., Any], prog: str, path: str | Path, overrides: list[str] | None = None
) -> Namespace:
    """Resolve a recipe (plus command-line style ``overrides``) into ``program``'s instantiated arguments.

    Raises:
        FileNotFoundError: no recipe at ``path``.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"recipe not found: {path}")
    parser = recipe_parser(program, prog)
    namespace = parser.parse_args(["--config", str(path), *(overrides or [])])
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes  # renamed in jsonargparse 4.49
    return instantiate(namespace)
