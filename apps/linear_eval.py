r"""Linear evaluation entry script (``sce linear-eval``); runs unchanged under ``fabric run``, ``torchrun``, ``srun``.

fabric run --accelerator cuda --devices 8 --strategy ddp apps/linear_eval.py \\
        --config apps/configs/linear/r3d50_kinetics400_8f.yaml --data.train ... --data.test ... --model.checkpoint ...
"""

from sce_apps.cli import linear_eval_main

if __name__ == "__main__":
    linear_eval_main()
