"""SCE pretraining (``sce pretrain``) as a module: ``python -m sce_apps.pretrain``, ``torchrun -m sce_apps.pretrain``.

``fabric run`` takes a file: ``fabric run --devices 8 --strategy ddp $(sce path pretrain) --config r3d18_kinetics400
--data.path SHARDS`` (``sce path pretrain`` prints this file's path).
"""

from sce_apps.cli import run_entry

if __name__ == "__main__":
    run_entry("pretrain", __file__)
