"""GPU check of sce-backbones: correctness on CUDA, then channels_last_3d vs contiguous step times.

Run from the repository root: ``python tools/gpu_checks/sce-backbones.py``. Exits non-zero on any failed check (or
without CUDA). Prints what it checked and the timings. Takes about a minute on one H100.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import torch
import torchvision
from torch import nn

from sce_backbones import (
    MomentumEncoder,
    Predictor,
    Projector,
    build_trunk,
    convert_sync_batchnorm,
    load_trunk_weights,
)

FAILURES: list[str] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    print(f"[{'PASS' if ok else 'FAIL'}] {name}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        FAILURES.append(name)


def check_cpu_cuda_agree() -> None:
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    for name in ("r3d18", "r3d50"):
        torch.manual_seed(0)
        cpu = build_trunk(name).eval()
        with torch.no_grad():  # random γ so the zero-γ init does not hide the residual branches
            for m in cpu.modules():
                if isinstance(m, nn.BatchNorm3d):
                    m.weight.uniform_(0.5, 1.5)
        gpu = build_trunk(name).cuda().eval()
        result = load_trunk_weights(gpu, cpu.state_dict())
        x = torch.randn(2, 3, 4, 64, 64)
        with torch.no_grad():
            ref, out = cpu(x), gpu(x.cuda()).cpu()
        err = ((out - ref).abs().max() / ref.abs().max()).item()
        check(f"{name} CUDA fp32 == CPU (loaded {result.loaded} tensors)", err < 1e-4, f"max rel err {err:.2e}")
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cuda.matmul.allow_tf32 = True


def check_training_step(name: str, shape: tuple[int, ...], channels_last: bool) -> None:
    trunk = convert_sync_batchnorm(build_trunk(name, channels_last=channels_last)).cuda()
    dim = trunk.num_features
    projector, predictor = Projector(dim, (1024, 1024)).cuda(), Predictor(256, 1024).cuda()
    online = nn.Sequential(trunk, projector)
    momentum = MomentumEncoder(online)
    x = torch.randn(shape, device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        q = nn.functional.normalize(predictor(online(x)).float(), dim=1)
        k = nn.functional.normalize(momentum(x).float(), dim=1)
    loss = -(q * k).sum(1).mean()
    loss.backward()
    grads_ok = all(p.grad is not None and torch.isfinite(p.grad).all() for p in trunk.parameters())
    before = next(momentum.parameters()).clone()
    with torch.no_grad():
        for p in online.parameters():
            p.sub_(0.1 * p.grad)
    momentum.update(online, 0.99)
    moved = not torch.equal(before, next(momentum.parameters()))
    frozen = all(p.grad is None for p in momentum.parameters())
    ok = torch.isfinite(loss).item() and grads_ok and moved and frozen
    check(f"{name} bf16 train step {shape} channels_last={channels_last}", bool(ok), f"loss {loss.item():.4f}")


def timed(step: Callable[[], None], iters: int = 10) -> float:
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / iters


def make_step(module: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        module.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = module(x)
        out.float().mean().backward()

    return step


def compare_layouts() -> None:
    print("\nbf16 autocast fwd+bwd step times (ms), contiguous vs channels_last_3d:")
    cases = [("r3d18", (8, 3, 8, 112, 112)), ("r3d18", (32, 3, 8, 112, 112)), ("r3d50", (8, 3, 8, 224, 224))]
    for name, shape in cases:
        row = []
        for cl in (False, True):
            trunk = build_trunk(name, channels_last=cl).cuda().train()
            x = torch.randn(shape, device="cuda")
            row.append(timed(make_step(trunk, x)) * 1e3)
            del trunk
        print(f"  {name} {shape}: contiguous {row[0]:.1f}  channels_last_3d {row[1]:.1f}  ratio {row[0] / row[1]:.2f}x")
    tv = torchvision.models.video.r3d_18(weights=None).cuda().train()
    tv.fc = nn.Identity()
    ours = build_trunk("r3d18").cuda().train()
    x = torch.randn(32, 3, 8, 112, 112, device="cuda")
    t_tv, t_ours = timed(make_step(tv, x)) * 1e3, timed(make_step(ours, x)) * 1e3
    print(f"  torchvision r3d_18 {t_tv:.1f} ms vs sce r3d18 {t_ours:.1f} ms at (32,3,8,112,112): {t_tv / t_ours:.2f}x")


def main() -> int:
    if not torch.cuda.is_available():
        print("CUDA is not available: nothing checked")
        return 2
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    check_cpu_cuda_agree()
    for name, shape in (("r3d18", (8, 3, 8, 112, 112)), ("r3d50", (4, 3, 8, 224, 224))):
        for channels_last in (False, True):
            check_training_step(name, shape, channels_last)
    check_training_step("resnet50", (16, 3, 224, 224), True)
    check_training_step("r2plus1d18", (4, 3, 16, 112, 112), False)
    compare_layouts()
    print(f"\n{len(FAILURES)} failed: {FAILURES}" if FAILURES else "\nall checks passed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
