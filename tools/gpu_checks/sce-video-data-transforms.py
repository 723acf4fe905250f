"""GPU check for sce_video_data.transforms: CUDA results equal CPU and torchvision; GPU throughput.

Run: python tools/gpu_checks/sce-video-data-transforms.py   (exit status 0 = every check passed)
"""

from __future__ import annotations

import sys
import time

import torch
import torchvision.transforms.v2 as T  # noqa: N812
import torchvision.transforms.v2.functional as TF  # noqa: N812

from sce_video_data.transforms import (
    RandomResizedCrop,
    adjust_contrast,
    adjust_hue,
    gaussian_blur,
    image_multicrop_local_view,
    image_sce_views,
    video_finetune_augmentation,
    video_sce_views,
)

FAILURES: list[str] = []


def check(name: str, ok: bool, detail: str) -> None:
    print(f"[{'PASS' if ok else 'FAIL'}] {name}: {detail}")
    if not ok:
        FAILURES.append(name)


def per_frame_reference(x: torch.Tensor, fn) -> torch.Tensor:
    return torch.stack([torch.stack([fn(x[b, :, t], b) for t in range(x.shape[2])], 1) for b in range(x.shape[0])])


def check_presets_cpu_vs_cuda() -> None:
    g = torch.Generator().manual_seed(0)
    clips = torch.randint(0, 256, (8, 4, 64, 64, 3), dtype=torch.uint8, generator=g)
    images = clips[:, 0]
    cases = [("video view 0", video_sce_views()[0], clips), ("video view 1", video_sce_views()[1], clips)]
    cases += [("image view 0", image_sce_views()[0], images), ("image view 1", image_sce_views()[1], images)]
    cases += [("local view", image_multicrop_local_view(), images), ("finetune", video_finetune_augmentation(), clips)]
    for name, view, x in cases:
        cpu = view(x, torch.Generator().manual_seed(5))
        gpu = view(x.cuda(), torch.Generator().manual_seed(5))
        diff = float((gpu.cpu() - cpu).abs().max())
        check(f"{name} CPU == CUDA", diff < 1e-4, f"max |diff| {diff:.2e} on {tuple(cpu.shape)}")


def check_kernels_vs_torchvision() -> None:
    x = torch.rand(4, 3, 3, 48, 40, device="cuda")
    sigma = torch.tensor([0.1, 0.6, 1.3, 2.0])
    hue = torch.tensor([-0.5, -0.1, 0.2, 0.45])
    contrast = torch.tensor([0.2, 0.9, 1.4, 1.8])
    cases = [
        ("blur", gaussian_blur(x, sigma), lambda f, b: TF.gaussian_blur(f, [23, 23], [float(sigma[b])] * 2)),
        ("hue", adjust_hue(x, hue), lambda f, b: TF.adjust_hue(f, float(hue[b]))),
        ("contrast", adjust_contrast(x, contrast), lambda f, b: TF.adjust_contrast(f, float(contrast[b]))),
    ]
    for name, ours, fn in cases:
        diff = float((ours - per_frame_reference(x, fn)).abs().max())
        check(f"{name} on CUDA == torchvision per frame", diff < 1e-5, f"max |diff| {diff:.2e}")


def check_crop_on_cuda() -> None:
    clip = torch.randint(0, 256, (4, 90, 120, 3), dtype=torch.uint8)
    crop = RandomResizedCrop(56)
    cpu = crop(clip, torch.Generator().manual_seed(1))
    gpu = crop(clip.cuda(), torch.Generator().manual_seed(1))
    diff = int((gpu.cpu().int() - cpu.int()).abs().max())
    check("uint8 RandomResizedCrop CUDA vs CPU", diff <= 1, f"max |diff| {diff} grey levels")


def torchvision_view(blur_p: float, solarize_p: float) -> T.Compose:
    steps = [T.RandomApply([T.ColorJitter(0.8, 0.8, 0.4, 0.2)], p=0.8), T.RandomGrayscale(p=0.2)]
    steps.append(T.RandomApply([T.GaussianBlur(23, sigma=(0.1, 2.0))], p=blur_p))
    if solarize_p:
        steps.append(T.RandomSolarize(0.5, p=solarize_p))
    return T.Compose([*steps, T.RandomHorizontalFlip(p=0.5), T.Normalize([0.45] * 3, [0.225] * 3)])


def timed(fn, repeats: int = 5) -> float:
    fn()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def benchmark() -> None:
    g = torch.Generator().manual_seed(0)
    for batch, frames, size in ((64, 16, 224), (16, 8, 112)):
        uint8 = torch.randint(0, 256, (batch, frames, size, size, 3), dtype=torch.uint8, generator=g).cuda()
        views = video_sce_views()
        ours = timed(lambda u=uint8, v=views: (v[0](u, g), v[1](u, g)))
        clips = [c.permute(0, 3, 1, 2).float().div(255) for c in uint8]  # (T, C, H, W)
        tvs = (torchvision_view(1.0, 0.0), torchvision_view(0.1, 0.2))
        theirs = timed(lambda c=clips, tv=tvs: ([tv[0](x) for x in c], [tv[1](x) for x in c]), repeats=2)
        print(
            f"[INFO] two views, {batch} clips x {frames} x {size}^2 on {torch.cuda.get_device_name()}: batched "
            f"{ours * 1e3:.1f} ms ({2 * batch / ours:.0f} clip-views/s), torchvision per clip {theirs * 1e3:.1f} ms, "
            f"speed-up {theirs / ours:.1f}x"
        )


def main() -> int:
    if not torch.cuda.is_available():
        print("[FAIL] CUDA is not available")
        return 1
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    check_presets_cpu_vs_cuda()
    check_kernels_vs_torchvision()
    check_crop_on_cuda()
    benchmark()
    print(f"{len(FAILURES)} failure(s): {FAILURES}" if FAILURES else "all checks passed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
