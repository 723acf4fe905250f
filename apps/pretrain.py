"""SCE pretraining entry script of a clone; runs unchanged under ``fabric run``, ``python``, ``torchrun`` and ``srun``.

fabric run --accelerator cpu --devices 2 --strategy ddp apps/pretrain.py --config demo --data.path SHARDS
python apps/pretrain.py --config r3d18_kinetics400 --data.path /data/k400-shards

From an installed wheel: ``python -m sce_apps.pretrain``, ``torchrun -m sce_apps.pretrain``, and
``fabric run ... $(sce path pretrain) ...``.
"""

from sce_apps.cli import pretrain_main

if __name__ == "__main__":
    pretrain_main()
