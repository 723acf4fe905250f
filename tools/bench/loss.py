"""Benchmark: SCELoss forward + backward + enqueue vs a straightforward two-einsum implementation.

Both run the same step side by side (interleaved repeats, median time) on the same inputs:
B queries against a K-key queue of dimension D, then enqueue of the B keys. Also reports the bytes that autograd
saves for backward (deterministic), which shows that no (B, K) tensor beyond the logits is kept.

    hatch run python tools/bench/loss.py [--batch 256] [--queue 65536] [--dim 256] [--repeats 7] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from sce_losses import SCELoss


def einsum_sce_step(state: dict, q: torch.Tensor, k: torch.Tensor, coeff: float, temp: float, temp_m: float):
    """The straightforward form of SPEC 1.2 (queue as D×K, two einsums, cat, softmax, log_softmax)."""
    queue = state["queue"].clone().detach()
    l_pos = torch.einsum("nc,nc->n", q, k).unsqueeze(1)
    logits_q = torch.cat([l_pos, torch.einsum("nc,ck->nk", q, queue)], dim=1) / temp
    with torch.no_grad():
        logits_k = torch.cat([torch.zeros_like(l_pos), torch.einsum("nc,ck->nk", k, queue)], dim=1) / temp_m
        mask = torch.zeros_like(logits_k)
        mask[:, 0] = 1
        target = F.normalize(coeff * mask + (1 - coeff) * torch.softmax(logits_k, dim=1), p=1, dim=1)
    loss = -(target * torch.log_softmax(logits_q, dim=1)).sum(1).mean()
    ptr = state["ptr"]
    state["queue"][:, ptr : ptr + k.shape[0]] = k.T
    state["ptr"] = (ptr + k.shape[0]) % state["queue"].shape[1]
    return loss


def saved_bytes(fn: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, int]:
    total = 0
    seen: set[int] = set()

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        key = t.untyped_storage().data_ptr()
        if key not in seen:
            seen.add(key)
            total += t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--queue", type=int, default=65536)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    coeff, temp, temp_m = 0.5, 0.1, 0.05

    ours = SCELoss(args.dim, args.queue, coeff=coeff, temp=temp, temp_m=temp_m)
    naive = {"queue": ours.queue.T.clone().contiguous(), "ptr": 0}
    q0 = F.normalize(torch.randn(args.batch, args.dim), dim=1)
    k = F.normalize(torch.randn(args.batch, args.dim), dim=1)

    def run_ours() -> torch.Tensor:
        q = q0.clone().requires_grad_()
        loss, nbytes = saved_bytes(lambda: ours(q, k))
        ours.enqueue(k)
        loss.backward()
        run_ours.nbytes = nbytes  # type: ignore[attr-defined]
        return loss

    def run_naive() -> torch.Tensor:
        q = q0.clone().requires_grad_()
        loss, nbytes = saved_bytes(lambda: einsum_sce_step(naive, q, k, coeff, temp, temp_m))
        loss.backward()
        run_naive.nbytes = nbytes  # type: ignore[attr-defined]
        return loss

    assert abs(run_ours().item() - run_naive().item()) < 1e-3, "the two implementations disagree"
    times: dict[str, list[float]] = {"sce_losses.SCELoss": [], "two-einsum": []}
    for _ in range(args.repeats):
        for name, fn in (("sce_losses.SCELoss", run_ours), ("two-einsum", run_naive)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    bk = args.batch * args.queue * 4
    print(f"B={args.batch} K={args.queue} D={args.dim} threads={args.threads} repeats={args.repeats} (median)")
    print(f"{'implementation':<22}{'ms / step':>12}{'saved for backward':>22}")
    for name, fn in (("sce_losses.SCELoss", run_ours), ("two-einsum", run_naive)):
        ms = statistics.median(times[name]) * 1e3
        print(f"{name:<22}{ms:>12.1f}{fn.nbytes / bk:>15.2f} × B·K·4")  # type: ignore[attr-defined]
    ratio = statistics.median(times["two-einsum"]) / statistics.median(times["sce_losses.SCELoss"])
    print(f"speed-up of SCELoss over two-einsum: {ratio:.2f}×")


if __name__ == "__main__":
    main()
