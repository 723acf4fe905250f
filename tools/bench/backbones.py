"""Benchmark of sce-backbones: training-step time of R3D-18 vs torchvision's r3d_18, and the trunk table.

Usage (from the repository root, in the dev env):

    hatch run python tools/bench/backbones.py                  # step times + table, 1 and 2 threads
    hatch run python tools/bench/backbones.py --threads 1 --repeats 5 --no-table

Step time = forward + backward (+ zero_grad) of a trunk in train mode on a (8, 3, 8, 112, 112) batch, loss = mean of
the pooled features. Every variant is timed in the same process, round-robin (A B C D A B C D ...), and the median is
reported with its ratio to torchvision's r3d_18 in its default (contiguous) layout. The table gives parameters, feature
size and GFLOPs (conv + matmul multiply-adds counted as 2 FLOPs, by ``torch.utils.flop_counter.FlopCounterMode`` on
the meta device) at 8x224x224 for video trunks and 224x224 for image trunks.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from sce_backbones import TRUNK_NAMES, build_trunk

VIDEO_SHAPE = (8, 3, 8, 112, 112)


def _torchvision_r3d18(channels_last: bool) -> nn.Module:
    net = torchvision.models.video.r3d_18(weights=None)
    net.fc = nn.Identity()
    return net.to(memory_format=torch.channels_last_3d) if channels_last else net


def variants() -> dict[str, tuple[nn.Module, bool]]:
    """Name -> (module, channels_last input)."""
    return {
        "torchvision r3d_18 (contiguous)": (_torchvision_r3d18(False), False),
        "torchvision r3d_18 (channels_last_3d)": (_torchvision_r3d18(True), True),
        "sce r3d18 (contiguous)": (build_trunk("r3d18", channels_last=False), False),
        "sce r3d18 (channels_last_3d)": (build_trunk("r3d18", channels_last=True), True),
    }


def step_fn(module: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    """One training step (forward + backward) of ``module`` on ``x``."""
    module.train()

    def step() -> None:
        module.zero_grad(set_to_none=True)
        module(x).mean().backward()

    return step


def time_steps(threads: int, repeats: int) -> dict[str, float]:
    """Median seconds per step of every variant, timed round-robin."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = torch.randn(VIDEO_SHAPE)
    steps = {}
    for name, (module, channels_last) in variants().items():
        inp = x.contiguous(memory_format=torch.channels_last_3d) if channels_last else x
        steps[name] = step_fn(module, inp)
        steps[name]()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def print_step_times(threads: int, repeats: int) -> None:
    medians = time_steps(threads, repeats)
    base = medians["torchvision r3d_18 (contiguous)"]
    print(f"\n### Training step (fwd+bwd), input {VIDEO_SHAPE}, {threads} thread(s), median of {repeats}\n")
    print("| model | s/step | speed vs torchvision r3d_18 |")
    print("|---|---|---|")
    for name, seconds in medians.items():
        print(f"| {name} | {seconds:.3f} | {base / seconds:.2f}x |")


def gflops(name: str) -> float:
    """GFLOPs of one sample through trunk ``name`` (8x224x224 clips or 224x224 images), counted on meta."""
    with torch.device("meta"):
        trunk = build_trunk(name).eval()
        shape = (1, 3, 224, 224) if trunk.input_ndim == 4 else (1, 3, 8, 224, 224)
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            trunk(torch.empty(shape))
    return counter.get_total_flops() / 1e9


def print_table() -> None:
    print("\n### Trunks\n")
    print("| name | parameters | features D | input | GFLOPs | GMACs |")
    print("|---|---|---|---|---|---|")
    for name in TRUNK_NAMES:
        with torch.device("meta"):
            trunk = build_trunk(name)
        params = sum(p.numel() for p in trunk.parameters())
        size = "224²" if trunk.input_ndim == 4 else "8×224²"
        flops = gflops(name)
        print(f"| {name} | {params:,} | {trunk.num_features} | {size} | {flops:.1f} | {flops / 2:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="intra-op thread counts to time")
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per variant and thread count")
    parser.add_argument("--no-table", action="store_true", help="skip the parameters/GFLOPs table")
    parser.add_argument("--no-steps", action="store_true", help="skip the step timings")
    args = parser.parse_args()
    cpu = platform.processor() or platform.machine()
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, {cpu}")
    if not args.no_table:
        print_table()
    if not args.no_steps:
        for threads in args.threads:
            print_step_times(threads, args.repeats)


if __name__ == "__main__":
    main()
