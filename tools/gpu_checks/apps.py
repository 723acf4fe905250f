"""GPU check of the programs: pretraining steps in bf16-mixed / 16-mixed / fp32 on CUDA with the SCE video views, and
linear evaluation + finetuning (with multi-view testing) on CUDA in bf16-mixed and fp32.

python tools/gpu_checks/apps.py      (exits 1 on a failed check, 2 without CUDA)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

from sce_apps.classify import (
    ClassifyDataConfig,
    ClassifyModelConfig,
    finetune,
    linear_eval,
)
from sce_apps.pretrain import DataConfig, FabricConfig, ModelConfig, OptimConfig, SCEConfig, TrainConfig, setup
from sce_video_data.synthetic import write_index_shards


def check_classify(failed: list[str]) -> None:
    """`sce linear-eval` and `sce finetune` on CUDA: they train, test 2 clips x 3 crops per video, stay finite."""
    import json

    with tempfile.TemporaryDirectory() as tmp:
        shards = {split: write_index_shards(Path(tmp) / split, 16, frames=30, sizes=((80, 64),)) for split in "ab"}
        for program, precision in ((linear_eval, "bf16-mixed"), (finetune, "32-true"), (finetune, "bf16-mixed")):
            out = Path(tmp) / f"{program.__name__}-{precision}"
            start = time.perf_counter()
            program(
                data=ClassifyDataConfig(
                    train=str(shards["a"]),
                    test=str(shards["b"]),
                    val="none",
                    frames=4,
                    train_short_side=(64, 72),
                    train_crop_size=56,
                    eval_clips=2,
                    eval_crops=3,
                    eval_short_side=64,
                    eval_crop_size=64,
                    eval_batch_size=4,
                    num_workers=2,
                    augment="linear" if program is linear_eval else "finetune",
                ),
                model=ClassifyModelConfig(trunk="r3d18", freeze_trunk=program is linear_eval),
                optim=OptimConfig(name="sgd", weight_decay=0.0, initial_lr=0.5, warmup_epochs=0),
                train=TrainConfig(global_batch_size=8, max_epochs=2, log_every_steps=1),
                fabric=FabricConfig(accelerator="cuda", devices=1, precision=precision),
                out_dir=out,
            )
            seconds = time.perf_counter() - start
            results = json.loads((out / "results.json").read_text())["last"]
            state = torch.load(out / "checkpoints" / "step-00000004.ckpt", weights_only=True)["model"]
            finite = all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
            ok = finite and results["count"] == 16 and 0 <= results["top1"] <= 1
            print(
                f"[{'PASS' if ok else 'FAIL'}] {program.__name__} r3d18 4x56^2 on cuda, {precision}: 4 steps + test of "
                f"16 videos x 6 views in {seconds:.1f} s, top-1 {results['top1']:.2f}, finite {finite}",
                flush=True,
            )
            if not ok:
                failed.append(f"{program.__name__} {precision}")


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device")
        return 2
    failed: list[str] = []
    check_classify(failed)
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
