"""Finetuning (``sce finetune``) as a module: ``python -m sce_apps.finetune``.

Also ``torchrun -m sce_apps.finetune ...`` and ``fabric run ... $(sce path finetune) ...`` (the path of this file).
"""

from sce_apps.cli import run_entry

if __name__ == "__main__":
    run_entry("finetune", __file__)
