"""Code run inside each of the 2 gloo processes of test_distributed.py (importable by spawned children)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
import torch.distributed as dist

from sce_losses import SCELoss, gather


def scenario_inputs(batch: int = 8, dim: int = 16) -> dict[str, torch.Tensor]:
    """The global batch every process slices from; identical in every process."""
    g = torch.Generator().manual_seed(1234)
    q = torch.nn.functional.normalize(torch.randn(2, batch, dim, generator=g, dtype=torch.float64), dim=-1)
    k = torch.nn.functional.normalize(torch.randn(2, batch, dim, generator=g, dtype=torch.float64), dim=-1)
    return {"q": q, "k": k}


def run_step(criterion: SCELoss, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One symmetric SCE step on views 0/1: loss, the queries' gradient, then enqueue of both views' keys."""
    q = q.clone().requires_grad_()
    loss = 0.5 * (criterion(q[1], k[0]) + criterion(q[0], k[1]))
    criterion.enqueue(k[0])  # view by view: the queue holds [all keys of view 0, all keys of view 1] (SPEC 2.3)
    criterion.enqueue(k[1])
    loss.backward()
    return loss.detach(), q.grad


def make_criterion(use_keys: bool) -> SCELoss:
    torch.manual_seed(0)
    return SCELoss(16, 64, coeff=0.5, temp=0.1, temp_m=0.05, use_keys=use_keys).double()


def worker(rank: int, world: int, port: int, out_dir: str) -> None:
    warnings.simplefilter("error", FutureWarning)  # deprecated collectives must not be used (torch warns per call)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        inputs = scenario_inputs()
        per_rank = inputs["q"].shape[1] // world
        rows = slice(rank * per_rank, (rank + 1) * per_rank)
        results: dict[str, torch.Tensor] = {}
        for use_keys in (False, True):
            criterion = make_criterion(use_keys)
            for step in range(3):  # three steps: the queue snapshot of later steps depends on earlier enqueues
                q = inputs["q"][:, rows] * (1 + 0.1 * step)
                loss, grad = run_step(criterion, torch.nn.functional.normalize(q, dim=-1), inputs["k"][:, rows])
                results[f"loss_{use_keys}_{step}"] = loss
                results[f"grad_{use_keys}_{step}"] = grad
            results[f"queue_{use_keys}"] = criterion.queue.clone()
            results[f"ptr_{use_keys}"] = criterion.queue_ptr.clone()
        x = (torch.arange(12, dtype=torch.float64).reshape(4, 3)[rank * 2 : rank * 2 + 2] + 1).requires_grad_()
        y = gather(x)
        weighted = ((y**2) * torch.arange(1, 5, dtype=torch.float64)[:, None]).sum() / world
        weighted.backward()
        results["gathered"] = y.detach()
        results["gather_grad"] = x.grad
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()
