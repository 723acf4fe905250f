"""The ``sce`` command: ``sce pretrain``, ``sce extract-features`` (and the evaluation programs as they land)."""

from __future__ import annotations

import sys

from jsonargparse import CLI

from sce_apps.extract.program import extract as extract_features
from sce_apps.pretrain.program import setup as pretrain

COMMANDS = {"pretrain": pretrain, "extract-features": extract_features}


def main(argv: list[str] | None = None) -> None:
    """Run ``sce <command> [--config recipe.yaml] [--section.field value ...]``; ``sce <command> --help`` for fields."""
    CLI(COMMANDS, args=sys.argv[1:] if argv is None else argv, as_positional=False)


def pretrain_main(argv: list[str] | None = None) -> None:
    """Entry of ``apps/pretrain.py``: the pretraining program alone (for ``fabric run``, ``torchrun``, ``srun``)."""
    CLI(pretrain, args=sys.argv[1:] if argv is None else argv, as_positional=False)


def extract_main(argv: list[str] | None = None) -> None:
    """Entry of ``apps/extract_features.py``: feature extraction alone (for ``fabric run`` and ``torchrun``)."""
    CLI(extract_features, args=sys.argv[1:] if argv is None else argv, as_positional=False)


if __name__ == "__main__":
    main()
