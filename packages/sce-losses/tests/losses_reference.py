"""Straightforward re-statements of SPEC 1.2 / 1.3, used as oracles by the tests (deliberately unoptimised)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def reference_sce(
    q: Tensor,
    k: Tensor,
    queue_rows: Tensor | None,
    coeff: float,
    temp: float,
    temp_m: float,
    all_keys: Tensor | None = None,
    rank: int = 0,
    mask_positive_target: bool = False,
) -> Tensor:
    """SPEC 1.2 step by step, with the authors' (D, K) queue, one-hot int64 mask and 1e9 masking."""
    batch = q.shape[0]
    queue = None if queue_rows is None else queue_rows.T  # authors' layout: one key per column
    use_keys = all_keys is not None
    num_negatives = 0 if queue is None else queue.shape[1]
    if use_keys:
        world = all_keys.shape[0] // batch
        labels = torch.arange(batch) + batch * rank
        mask = F.one_hot(labels, batch * world + num_negatives)
        sim_kk = k @ all_keys.T
        sim_qk = q @ all_keys.T
    else:
        mask = F.one_hot(torch.zeros(batch, dtype=torch.long), 1 + num_negatives)
        sim_qk = (q * k).sum(1, keepdim=True)
        sim_kk = torch.full_like(sim_qk, float("-inf")) if mask_positive_target else torch.zeros_like(sim_qk)
    if queue is not None:
        logits_k = torch.cat([sim_kk, k @ queue], dim=1)
        logits_q = torch.cat([sim_qk, q @ queue], dim=1)
    else:
        logits_k, logits_q = sim_kk, sim_qk
    if use_keys:
        logits_k = logits_k - 1e9 * mask
    logits_q = logits_q / temp
    logits_k = logits_k / temp_m
    prob_k = torch.softmax(logits_k, dim=1)
    target = F.normalize(coeff * mask + (1 - coeff) * prob_k, p=1, dim=1).detach()
    return -(target * torch.log_softmax(logits_q, dim=1)).sum(1).mean()


def reference_moco(q: Tensor, k: Tensor, queue_rows: Tensor, temp: float) -> Tensor:
    """InfoNCE with the positive at column 0, written with an explicit log-softmax."""
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue_rows.T], dim=1) / temp
    return -torch.log_softmax(logits, dim=1)[:, 0].mean()


def reference_ressl(
    q: Tensor, k: Tensor, queue_rows: Tensor | None, temp: float, temp_m: float, all_keys: Tensor | None, rank: int
) -> Tensor:
    """ReSSL as SPEC 1.3 describes it."""
    banks = [b for b in (all_keys, queue_rows) if b is not None]
    bank = torch.cat(banks)
    logits_q, logits_k = q @ bank.T, k @ bank.T
    if all_keys is not None:
        batch = q.shape[0]
        mask = torch.zeros_like(logits_q)
        mask[torch.arange(batch), rank * batch + torch.arange(batch)] = 1e9
        logits_q, logits_k = logits_q - mask, logits_k - mask
    target = torch.softmax(logits_k / temp_m, dim=1).detach()
    return -(target * torch.log_softmax(logits_q / temp, dim=1)).sum(1).mean()


def unit_rows(*shape: int, generator: torch.Generator, dtype: torch.dtype = torch.float64) -> Tensor:
    """Random L2-normalised rows."""
    return F.normalize(torch.randn(*shape, generator=generator, dtype=dtype), dim=-1)
