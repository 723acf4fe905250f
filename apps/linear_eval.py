r"""Linear evaluation entry script of a clone (``sce linear-eval``); runs under ``fabric run``, ``torchrun``, ``srun``.

fabric run --accelerator cuda --devices 8 --strategy ddp apps/linear_eval.py \\
        --config r3d50_kinetics400_8f --data.train ... --data.test ... --model.checkpoint ...

From an installed wheel: ``python -m sce_apps.linear_eval``, ``torchrun -m sce_apps.linear_eval``, and
``fabric run ... $(sce path linear-eval) ...``.
"""

from sce_apps.cli import linear_eval_main

if __name__ == "__main__":
    linear_eval_main()
