r"""Finetuning entry script (``sce finetune``); runs unchanged under ``fabric run``, ``torchrun`` and ``srun``.

fabric run --accelerator cuda --devices 8 --strategy ddp apps/finetune.py \\
        --config apps/configs/finetune/r3d50_ucf101_8f.yaml --data.train ... --data.test ... --model.checkpoint ...
"""

from sce_apps.cli import finetune_main

if __name__ == "__main__":
    finetune_main()
