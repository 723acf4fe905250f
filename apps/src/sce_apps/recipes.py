"""The YAML recipes shipped in the package (``sce_apps/configs/<folder>/*.yaml``) and how the programs read them.

The recipes are package data, found with :mod:`importlib.resources`, so an installed ``sce-apps`` has them too. Every
program's ``--config`` takes a recipe name of its own folder (``--config r3d18_kinetics400``) or the path of a YAML
file. This module imports no torch: ``sce`` resolves names before it loads a program.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonargparse import ArgumentParser, Namespace

RECIPE_FOLDERS: dict[str, str] = {
    "pretrain": "pretrain",
    "extract-features": "extract",
    "linear-eval": "linear",
    "finetune": "finetune",
}
"""The recipe folder of each ``sce`` command (also accepted as keys: the folder names themselves)."""


def _configs_dir() -> Path:
    root = files("sce_apps") / "configs"
    if not isinstance(root, Path) or not root.is_dir():  # a zipped install: the programs need real files
        raise RuntimeError(f"sce-apps recipes not found as files ({root}); install sce-apps as a regular package")
    return root


CONFIGS_DIR = _configs_dir()
"""The recipes folder inside the installed package (``pretrain/``, ``linear/``, ``finetune/``, ``extract/``)."""


def recipes_dir(program: str) -> Path:
    """The recipe folder of ``program``: an ``sce`` command (``linear-eval``) or a folder name (``linear``)."""
    folder = RECIPE_FOLDERS.get(program, program)
    if folder not in RECIPE_FOLDERS.values():
        raise ValueError(f"no recipes for {program!r}; expected one of {', '.join(RECIPE_FOLDERS)}")
    return CONFIGS_DIR / folder


def recipe_names(program: str) -> list[str]:
    """The names of ``program``'s recipes (file stems), sorted."""
    return sorted(path.stem for path in recipes_dir(program).glob("*.yaml"))


class UnknownRecipeError(FileNotFoundError):
    """A ``--config`` value that is neither a file nor the name of one of the program's recipes."""


def find_recipe(program: str, name_or_path: str | os.PathLike[str]) -> Path:
    """The recipe file of ``name_or_path``: an existing file as given, else a recipe name of ``program``'s folder.

    A name is a value without a folder separator, with or without ``.yaml`` (``demo``, ``demo.yaml``).

    Raises:
        UnknownRecipeError: neither; the message lists ``program``'s recipes on one line.
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    text = os.fspath(name_or_path)
    if "/" not in text and os.sep not in text:
        stem = text[: -len(path.suffix)] if path.suffix in (".yaml", ".yml") else text
        candidate = recipes_dir(program) / f"{stem}.yaml"
        if candidate.is_file():
            return candidate
        raise UnknownRecipeError(
            f"unknown recipe {text!r} for {program}: not a file, and not one of its recipes "
            f"({', '.join(recipe_names(program))})"
        )
    raise UnknownRecipeError(f"recipe not found: {text}")


def resolve_config_arguments(program: str, args: list[str]) -> list[str]:
    """``args`` with each ``--config NAME`` (or ``--config=NAME``) replaced by the path of the recipe it names.

    Raises:
        UnknownRecipeError: a ``--config`` value that is neither a file nor one of ``program``'s recipes.
    """
    resolved: list[str] = []
    expects_value = False
    for arg in args:
        if expects_value:
            resolved.append(str(find_recipe(program, arg)))
            expects_value = False
        elif arg == "--config":
            resolved.append(arg)
            expects_value = True
        elif arg.startswith("--config="):
            resolved.append(f"--config={find_recipe(program, arg.split('=', 1)[1])}")
        else:
            resolved.append(arg)
    return resolved


def recipe_parser(program: Callable[..., Any], prog: str) -> ArgumentParser:
    """The parser of a program's command line (the fields of ``program``, ``--config`` for YAML files)."""
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(prog=prog, exit_on_error=False)
    parser.add_argument("--config", action="config")
    parser.add_function_arguments(program)
    return parser


def parse_recipe(
    program: Callable[..., Any], prog: str, path: str | Path, overrides: list[str] | None = None
) -> Namespace:
    """Resolve a recipe file (plus command-line style ``overrides``) into ``program``'s instantiated arguments.

    Raises:
        FileNotFoundError: no recipe at ``path``.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"recipe not found: {path}")
    parser = recipe_parser(program, prog)
    namespace = parser.parse_args(["--config", str(path), *(overrides or [])])
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes  # renamed in jsonargparse 4.49
    return instantiate(namespace)
