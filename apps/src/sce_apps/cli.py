"""The ``sce`` command: ``sce pretrain``, ``sce extract-features``, ``sce linear-eval`` and ``sce finetune``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from jsonargparse import CLI, set_parsing_settings

from sce_apps.classify.program import finetune, linear_eval
from sce_apps.extract.program import extract as extract_features
from sce_apps.pretrain.program import setup as pretrain

set_parsing_settings(docstring_parse_attribute_docstrings=True)  # `--help` shows each settings field's docstring

COMMANDS: dict[str, Callable[..., Any]] = {
    "pretrain": pretrain,
    "extract-features": extract_features,
    "linear-eval": linear_eval,
    "finetune": finetune,
}


def main(argv: list[str] | None = None) -> None:
    """Run ``sce <command> [--config recipe.yaml] [--section.field value ...]``; ``sce <command> --help`` for fields."""
    CLI(COMMANDS, args=sys.argv[1:] if argv is None else argv, as_positional=False)


def program_main(command: str, argv: list[str] | None = None) -> None:
    """One program alone (the entry of ``apps/<program>.py``, for ``fabric run``, ``torchrun`` and ``srun``)."""
    CLI(COMMANDS[command], args=sys.argv[1:] if argv is None else argv, as_positional=False)


def pretrain_main(argv: list[str] | None = None) -> None:
    """Entry of ``apps/pretrain.py``: the pretraining program alone."""
    program_main("pretrain", argv)


def extract_main(argv: list[str] | None = None) -> None:
    """Entry of ``apps/extract_features.py``: feature extraction alone."""
    program_main("extract-features", argv)


def linear_eval_main(argv: list[str] | None = None) -> None:
    """Entry of ``apps/linear_eval.py``: linear evaluation alone."""
    program_main("linear-eval", argv)


def finetune_main(argv: list[str] | None = None) -> None:
    """Entry of ``apps/finetune.py``: finetuning alone."""
    program_main("finetune", argv)


if __name__ == "__main__":
    main()
