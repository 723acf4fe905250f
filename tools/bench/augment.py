"""Benchmark: the batched two-view SCE video augmentation vs torchvision applied clip by clip (CPU).

Both sides apply the same device stage (SPEC 4.3: jitter 0.8/0.8/0.4/0.2 p=0.8, grayscale 0.2, blur 1.0 / 0.1,
solarize 0.2 on view 1, flip 0.5, normalisation) to two float batches of ``B`` clips ``(C, T, H, W)``. The torchvision
baseline is ``torchvision.transforms.v2`` on each clip as a ``(T, C, H, W)`` tensor, which shares the parameters
across the frames of a clip, exactly like ours. Measurements alternate between the two sides and report medians, so
that the ratio stays meaningful on a loaded machine.

Usage:
    python tools/bench/augment.py [--batch 16 1] [--frames 8] [--size 112] [--threads 1] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torchvision.transforms.v2 as T  # noqa: N812

from sce_video_data.transforms import video_sce_views


def torchvision_view(blur_p: float, solarize_p: float) -> T.Compose:
    steps: list[torch.nn.Module] = [
        T.RandomApply([T.ColorJitter(0.8, 0.8, 0.4, 0.2)], p=0.8),
        T.RandomGrayscale(p=0.2),
        T.RandomApply([T.GaussianBlur(23, sigma=(0.1, 2.0))], p=blur_p),
    ]
    if solarize_p > 0:
        steps.append(T.RandomSolarize(0.5, p=solarize_p))
    steps += [T.RandomHorizontalFlip(p=0.5), T.Normalize([0.45] * 3, [0.225] * 3)]
    return T.Compose(steps)


def make_runners(batch: int, frames: int, size: int, device: str) -> dict[str, Callable[[], object]]:
    g = torch.Generator().manual_seed(0)
    views = [torch.rand(batch, 3, frames, size, size, generator=g, device="cpu").to(device) for _ in range(2)]
    ours0, ours1 = video_sce_views()
    tv0, tv1 = torchvision_view(1.0, 0.0), torchvision_view(0.1, 0.2)
    clips = [[c.transpose(0, 1).contiguous() for c in v] for v in views]  # (T, C, H, W) per clip

    def ours() -> object:
        return ours0(views[0], g), ours1(views[1], g)

    def theirs() -> object:
        return [tv0(c) for c in clips[0]], [tv1(c) for c in clips[1]]

    return {"batched (ours)": ours, "torchvision per clip": theirs}


def measure(runners: dict[str, Callable[[], object]], repeats: int, device: str) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in runners}
    for fn in runners.values():
        fn()  # warm-up
    for _ in range(repeats):
        for name, fn in runners.items():
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if device == "cuda":
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, nargs="+", default=[16, 1])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    setting = f"{args.frames} frames x {args.size}^2, {args.threads} thread(s), {args.device}"
    print(f"two-view SCE video augmentation, {setting}")
    print(f"{'batch':>5}  {'batched ms':>10}  {'torchvision ms':>14}  {'speed-up':>8}  {'clips/s batched':>15}")
    for batch in args.batch:
        result = measure(make_runners(batch, args.frames, args.size, args.device), args.repeats, args.device)
        ours, theirs = result["batched (ours)"], result["torchvision per clip"]
        print(f"{batch:>5}  {ours * 1e3:>10.1f}  {theirs * 1e3:>14.1f}  {theirs / ours:>7.2f}x  {batch / ours:>15.1f}")


if __name__ == "__main__":
    main()
