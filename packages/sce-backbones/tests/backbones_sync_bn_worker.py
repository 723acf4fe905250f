"""Code run inside each of the 2 gloo processes of test_sync_bn.py (importable by spawned children)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from sce_backbones import convert_sync_batchnorm

SPLIT = (3, 5)  # unequal per-process batches: the statistics must weight processes by their counts
CASES = {
    "bn1d": ((8, 6), lambda: nn.BatchNorm1d(6)),
    "bn1d_no_affine": ((8, 6), lambda: nn.BatchNorm1d(6, affine=False)),
    "bn2d": ((8, 4, 3, 3), lambda: nn.BatchNorm2d(4, momentum=None)),
    "bn3d": ((8, 4, 2, 3, 3), lambda: nn.BatchNorm3d(4, eps=1e-3)),
}


def case_inputs(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The global batch and the fixed loss weights of one case; identical in every process."""
    g = torch.Generator().manual_seed(len(name))
    shape = CASES[name][0]
    return torch.randn(shape, generator=g) * 3 + 1, torch.randn(shape, generator=g)


def make_bn(name: str) -> nn.Module:
    bn = CASES[name][1]()
    if bn.affine:
        with torch.no_grad():
            bn.weight.copy_(torch.linspace(0.5, 1.5, bn.num_features))
            bn.bias.copy_(torch.linspace(-1, 1, bn.num_features))
    return bn


def run_steps(bn: nn.Module, x: torch.Tensor, w: torch.Tensor, steps: int = 2) -> dict[str, torch.Tensor]:
    """Forward/backward ``steps`` times; returns outputs, gradients and the final buffers."""
    out: dict[str, torch.Tensor] = {}
    for step in range(steps):
        xs = (x * (1 + step)).requires_grad_()
        y = bn(xs)
        (y * w).sum().backward()
        out[f"y{step}"], out[f"xgrad{step}"] = y.detach(), xs.grad
        if bn.affine:
            out[f"wgrad{step}"], out[f"bgrad{step}"] = bn.weight.grad.clone(), bn.bias.grad.clone()
            bn.zero_grad()
    out["running_mean"], out["running_var"] = bn.running_mean.clone(), bn.running_var.clone()
    out["num_batches_tracked"] = bn.num_batches_tracked.clone()
    return out


def worker(rank: int, world: int, port: int, out_dir: str) -> None:
    warnings.simplefilter("error", FutureWarning)  # deprecated collectives must not be used (torch warns per call)
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        results = {}
        start = sum(SPLIT[:rank])
        for name in CASES:
            x, w = case_inputs(name)
            bn = convert_sync_batchnorm(make_bn(name))
            sl = slice(start, start + SPLIT[rank])
            for key, value in run_steps(bn, x[sl], w[sl]).items():
                results[f"{name}.{key}"] = value
            bn.eval()  # eval mode: running statistics, no communication
            results[f"{name}.eval"] = bn(x[sl]).detach()
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()
