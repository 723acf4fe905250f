r"""Feature extraction entry script (``sce extract-features``); runs unchanged under ``fabric run`` and ``torchrun``.

fabric run --accelerator cpu --devices 2 --strategy ddp apps/extract_features.py \\
        --features.shards runs/demo/shards/test --features.out runs/demo/features/test.npz \\
        --features.checkpoint runs/demo/pretrain/checkpoints/step-00000090.ckpt

From an installed wheel: ``python -m sce_apps.extract_features``, ``torchrun -m sce_apps.extract_features``, and
``fabric run ... $(sce path extract-features) ...``.
"""

from sce_apps.cli import extract_main

if __name__ == "__main__":
    extract_main()
