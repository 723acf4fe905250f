r"""Finetuning entry script of a clone (``sce finetune``); runs unchanged under ``fabric run``, ``torchrun``, ``srun``.

fabric run --accelerator cuda --devices 8 --strategy ddp apps/finetune.py \\
        --config r3d50_ucf101_8f --data.train ... --data.test ... --model.checkpoint ...

From an installed wheel: ``python -m sce_apps.finetune``, ``torchrun -m sce_apps.finetune``, and
``fabric run ... $(sce path finetune) ...``.
"""

from sce_apps.cli import finetune_main

if __name__ == "__main__":
    finetune_main()
