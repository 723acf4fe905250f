"""GPU check of sce-losses: CUDA equals CPU, autocast stays finite, and a side-by-side timing on the GPU.

python tools/gpu_checks/sce-losses.py      (exits 1 on a failed check, 2 without CUDA)
"""

from __future__ import annotations

import sys
import time

import torch
import torch.nn.functional as F

from sce_losses import SCELoss, moco_loss, sce_loss

FAILED: list[str] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    print(f"[{'PASS' if ok else 'FAIL'}] {name} {detail}", flush=True)
    if not ok:
        FAILED.append(name)


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device")
        return 2
    g = torch.Generator().manual_seed(0)
    q = F.normalize(torch.randn(64, 128, generator=g, dtype=torch.float64), dim=1)
    k = F.normalize(torch.randn(64, 128, generator=g, dtype=torch.float64), dim=1)
    queue = F.normalize(torch.randn(4096, 128, generator=g, dtype=torch.float64), dim=1)
    for kwargs in ({}, {"all_keys": k, "rank": 0}, {"mask_positive_target": True}):
        qc = q.clone().requires_grad_()
        qg = q.cuda().requires_grad_()
        lc = sce_loss(qc, k, queue, **kwargs)
        lg = sce_loss(
            qg, k.cuda(), queue.cuda(), **{n: v.cuda() if torch.is_tensor(v) else v for n, v in kwargs.items()}
        )
        lc.backward()
        lg.backward()
        diff = (lc - lg.cpu()).abs().item()
        gdiff = (qc.grad - qg.grad.cpu()).abs().max().item()
        check(
            f"cuda == cpu float64 {sorted(kwargs)}", diff < 1e-10 and gdiff < 1e-10, f"loss {diff:.1e} grad {gdiff:.1e}"
        )
    qf, kf, queuef = q.float().cuda(), k.float().cuda(), queue.float().cuda()
    full = sce_loss(qf, kf, queuef).item()
    for dtype in (torch.bfloat16, torch.float16):
        with torch.autocast("cuda", dtype=dtype):
            low = sce_loss(qf.requires_grad_(), kf, queuef)
        low.backward()
        ok = torch.isfinite(low).item() and abs(low.item() - full) < 2e-2 * abs(full) and torch.isfinite(qf.grad).all()
        check(f"autocast {dtype}", bool(ok), f"{low.item():.5f} vs fp32 {full:.5f}")
        qf.grad = None
    check(
        "coeff=1 == moco on cuda",
        abs(sce_loss(qf, kf, queuef, coeff=1.0, temp=0.2).item() - moco_loss(qf, kf, queuef).item()) < 1e-5,
    )
    criterion = SCELoss(128, 256).cuda()
    criterion.enqueue(kf)
    check("enqueue on cuda", int(criterion.queue_ptr) == 64 and torch.equal(criterion.queue[:64], kf))
    timing()
    print("FAILED: " + ", ".join(FAILED) if FAILED else "all sce-losses GPU checks passed")
    return 1 if FAILED else 0


def timing(batch: int = 256, size: int = 65536, dim: int = 256) -> None:
    criterion = SCELoss(dim, size, temp_m=0.05).cuda()
    q0 = F.normalize(torch.randn(batch, dim, device="cuda"), dim=1)
    k = F.normalize(torch.randn(batch, dim, device="cuda"), dim=1)
    queue_dk = criterion.queue.T.contiguous()

    def ours() -> None:
        q = q0.clone().requires_grad_()
        loss = criterion(q, k)
        criterion.enqueue(k)
        loss.backward()

    def naive() -> None:
        q = q0.clone().requires_grad_()
        snapshot = queue_dk.clone()
        pos = torch.einsum("nc,nc->n", q, k).unsqueeze(1)
        lq = torch.cat([pos, torch.einsum("nc,ck->nk", q, snapshot)], 1) / 0.1
        with torch.no_grad():
            lk = torch.cat([torch.zeros_like(pos), torch.einsum("nc,ck->nk", k, snapshot)], 1) / 0.05
            mask = torch.zeros_like(lk)
            mask[:, 0] = 1
            w = F.normalize(0.5 * mask + 0.5 * lk.softmax(1), p=1, dim=1)
        (-(w * lq.log_softmax(1)).sum(1).mean()).backward()

    for name, fn in (("SCELoss", ours), ("two-einsum", naive)):
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(20):
            fn()
        torch.cuda.synchronize()
        ms = (time.perf_counter() - start) / 20 * 1e3
        print(f"[INFO] {name}: B={batch} K={size} D={dim} fwd+bwd(+enqueue) {ms:.2f} ms")


if __name__ == "__main__":
    sys.exit(main())
