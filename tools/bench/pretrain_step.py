"""Benchmark: one SCE training step on CPU, split into its parts.

Measures, side by side in one run, clips/s of a full step (data, device views, momentum and online forwards, loss,
backward, LARS, EMA, enqueue) and the share of each part, at the demo size (r3d18, 4 × 48², batch 16, demo shards
when given, else synthetic clips) and at 8 × 112² (r3d18, batch 8). The SCE machinery is the loss (forward and
backward, measured on detached copies of the same inputs), the EMA update and the enqueue.

    hatch run python tools/bench/pretrain_step.py [--shards runs/demo/shards/train] [--steps 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from pathlib import Path

import torch

from sce_apps.loaders import train_loader
from sce_apps.optim import LARS
from sce_apps.pretrain.config import DataConfig, ModelConfig, SCEConfig
from sce_apps.pretrain.data import build_dataset, device_views
from sce_apps.pretrain.learner import SCELearner


def run(name: str, data: DataConfig, model: ModelConfig, sce: SCEConfig, batch: int, steps: int) -> dict[str, float]:
    torch.manual_seed(0)
    learner = SCELearner(model, sce)
    optimizer = LARS(learner.online.parameters(), lr=0.1, weight_decay=1e-6)
    dataset = build_dataset(data, image=False)
    loader, _ = train_loader(dataset, batch, world=1, rank=0, seed=0, num_workers=data.num_workers)
    views = device_views(data)
    times: dict[str, list[float]] = defaultdict(list)
    iterator = iter(loader)
    for step in range(steps + 1):  # the first step warms up and is not counted
        t = {"start": time.perf_counter()}
        try:
            batch_data = next(iterator)
        except StopIteration:
            iterator = iter(loader)
            batch_data = next(iterator)
        t["data"] = time.perf_counter()
        crops = views(batch_data["video"], torch.device("cpu"), None)
        t["views"] = time.perf_counter()
        keys = [learner.momentum(x) for x in crops]
        t["momentum_forward"] = time.perf_counter()
        queries = learner.online(crops)
        t["online_forward"] = time.perf_counter()
        loss = 0.5 * (learner.criterion(queries[1], keys[0]) + learner.criterion(queries[0], keys[1]))
        t["loss_forward"] = time.perf_counter()
        loss.backward()
        t["backward"] = time.perf_counter()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        t["optimizer"] = time.perf_counter()
        learner.momentum.update(learner.momentum.module.__class__(learner.online.trunk, learner.online.projector), 0.99)
        t["ema"] = time.perf_counter()
        for k in keys:
            learner.criterion.enqueue(k)
        t["enqueue"] = time.perf_counter()
        # The loss's own backward, on detached copies of the same inputs (part of "backward" above).
        q = [x.detach().requires_grad_() for x in queries]
        begin = time.perf_counter()
        (0.5 * (learner.criterion(q[1], keys[0]) + learner.criterion(q[0], keys[1]))).backward()
        loss_total = time.perf_counter() - begin
        if step == 0:
            continue
        names = list(t)
        for previous, current in zip(names, names[1:], strict=False):
            times[current].append(t[current] - t[previous])
        times["loss_fwd_bwd"].append(loss_total)
        times["step"].append(t["enqueue"] - t["start"])
    median = {k: statistics.median(v) for k, v in times.items()}
    step_time = median["step"]
    sce_share = (median["loss_fwd_bwd"] + median["ema"] + median["enqueue"]) / step_time
    print(f"\n{name}: {step_time:.2f} s/step, {2 * batch / step_time:.1f} clips/s (2 clips per sample)")
    for part in (
        "data",
        "views",
        "momentum_forward",
        "online_forward",
        "loss_forward",
        "backward",
        "optimizer",
        "ema",
        "enqueue",
        "loss_fwd_bwd",
    ):
        print(f"  {part:<18}{median[part] * 1e3:>10.1f} ms {median[part] / step_time:>7.1%}")
    print(f"  SCE machinery (loss fwd+bwd, EMA, enqueue): {sce_share:.1%} of the step")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=Path, default=None, help="demo train shards (default: synthetic clips)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    demo_model = ModelConfig(projector_hidden_dims=(512, 512), projector_out_dim=128, predictor_hidden_dim=512)
    if args.shards:
        demo_data = DataConfig(path=str(args.shards), frames=4, crop_size=48, num_workers=0)
    else:
        demo_data = DataConfig(format="synthetic", synthetic_size=64, synthetic_resolution=48, frames=4, num_workers=0)
    run("demo size: r3d18, 4 x 48^2, batch 16", demo_data, demo_model, SCEConfig(queue_size=512), 16, args.steps)
    big = DataConfig(format="synthetic", synthetic_size=32, synthetic_resolution=112, frames=8, num_workers=0)
    run("r3d18, 8 x 112^2, batch 8, queue 65536", big, ModelConfig(), SCEConfig(queue_size=65536), 8, args.steps)


if __name__ == "__main__":
    main()
