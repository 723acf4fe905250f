"""Reading the recipes of ``sce_apps/configs/{linear,finetune}/`` (package data) as the command line does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sce_apps.classify.config import ClassifyConfig, Protocol
from sce_apps.classify.program import finetune, linear_eval
from sce_apps.recipes import find_recipe, parse_recipe, recipes_dir

PROGRAMS = {"linear": (linear_eval, "sce linear-eval"), "finetune": (finetune, "sce finetune")}
RECIPE_DIRS: dict[Protocol, Path] = {"linear": recipes_dir("linear"), "finetune": recipes_dir("finetune")}
"""The recipes folder of each protocol in the installed package."""


def load_classify_recipe(
    protocol: Protocol, path: str | Path, overrides: list[str] | None = None
) -> tuple[ClassifyConfig, dict[str, Any]]:
    """Resolve a linear-evaluation or finetuning recipe (a path or a recipe name, plus ``overrides``) into settings.

    Returns:
        The :class:`ClassifyConfig` and the remaining arguments (``out_dir``, ``resume``, ``test_checkpoint``).
    """
    program, prog = PROGRAMS[protocol]
    namespace = parse_recipe(program, prog, find_recipe(protocol, path), overrides)
    sections = {name: namespace[name] for name in ("data", "model", "optim", "train", "fabric")}
    rest = {"out_dir": Path(namespace["out_dir"]), "resume": namespace["resume"]}
    return ClassifyConfig(protocol, **sections), {**rest, "test_checkpoint": namespace["test_checkpoint"]}
