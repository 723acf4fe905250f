"""GPU check of the pretraining program: a few bf16-mixed and 16-mixed steps on CUDA with the SCE video views.

python tools/gpu_checks/apps.py      (exits 1 on a failed check, 2 without CUDA)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

from sce_apps.pretrain import DataConfig, FabricConfig, ModelConfig, OptimConfig, SCEConfig, TrainConfig, setup


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device")
        return 2
    failed = []
    for precision in ("bf16-mixed", "16-mixed", "32-true"):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            setup(
                data=DataConfig(
                    format="synthetic",
                    synthetic_size=64,
                    synthetic_resolution=112,
                    frames=8,
                    num_workers=2,
                    augment="video_sce",
                ),
                model=ModelConfig(trunk="r3d18"),
                sce=SCEConfig(queue_size=1024),
                optim=OptimConfig(warmup_epochs=1),
                train=TrainConfig(global_batch_size=16, max_epochs=2, log_every_steps=1, checkpoint_every_steps=4),
                fabric=FabricConfig(accelerator="cuda", devices=1, precision=precision),
                out_dir=Path(tmp),
            )
            seconds = time.perf_counter() - start
            payload = torch.load(Path(tmp) / "checkpoints" / "step-00000008.ckpt", weights_only=True)
            finite = all(torch.isfinite(v).all() for v in payload["learner"].values() if v.is_floating_point())
            ptr = int(payload["learner"]["criterion.queue_ptr"])
            ok = finite and ptr == (8 * 32) % 1024
            print(
                f"[{'PASS' if ok else 'FAIL'}] pretrain r3d18 8x112^2 batch 16 on cuda, {precision}: 8 steps in "
                f"{seconds:.1f} s (incl. start-up), queue_ptr {ptr}, finite {finite}",
                flush=True,
            )
            if not ok:
                failed.append(precision)
    print(f"FAILED: {failed}" if failed else "all apps GPU checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
