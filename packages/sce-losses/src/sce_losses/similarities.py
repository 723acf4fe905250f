"""Similarities of queries and keys to a bank of keys, from one matrix product."""

from __future__ import annotations

import torch
from torch import Tensor


@torch.no_grad()
def bank_logits(query: Tensor, key: Tensor, bank: Tensor, temp: float, temp_m: float, dtype: torch.dtype) -> Tensor:
    """Return the (2B, K) logits ``[query·bankᵀ/τ ; key·bankᵀ/τm]`` in ``dtype``, without gradient.

    Stacking query and key gives both halves in a single GEMM that reads the bank (the 65,536-key queue) once. Under
    autocast the product runs in the autocast dtype, as a plain matmul would; the result is then widened to ``dtype``.

    Args:
        query: (B, D) online predictions.
        key: (B, D) momentum keys.
        bank: (K, D) keys, one per row.
        temp: τ, dividing the query half.
        temp_m: τm, dividing the key half.
        dtype: the accumulation dtype of the result (float32, or float64 for float64 inputs).

    Returns:
        Rows ``0…B−1`` hold the query logits, rows ``B…2B−1`` the key logits.
    """
    logits = (torch.cat([query, key]) @ bank.T).to(dtype)
    batch = query.shape[0]
    logits[:batch].div_(temp)
    logits[batch:].div_(temp_m)
    return logits
