"""SCE pretraining entry script; runs unchanged under ``fabric run``, ``python``, ``torchrun`` and ``srun``.

fabric run --accelerator cpu --devices 2 --strategy ddp apps/pretrain.py --config apps/configs/pretrain/demo.yaml
python apps/pretrain.py --config apps/configs/pretrain/r3d18_kinetics400.yaml --data.path /data/k400-shards
"""

from sce_apps.cli import pretrain_main

if __name__ == "__main__":
    pretrain_main()
