"""Exact k-NN search in torch, in blocks of queries and bank items (memory stays bounded for banks of millions).

The bank is visited once, block by block (each block is transformed and moved to the device once); within a bank
block the queries are processed in chunks, and every query keeps a running top-k that is merged with the block's
top-k (:mod:`sce_retrieval.topk`). The largest temporary is one ``query_chunk x bank_chunk`` float32 score block:
the full ``queries x bank`` matrix is never held.
"""

from __future__ import annotations

import numpy as np
import torch

from sce_retrieval.topk import block_topk, merge_topk
from sce_retrieval.transform import RowTransform

DEFAULT_QUERY_CHUNK = 4096
DEFAULT_BANK_CHUNK = 16384


def torch_search(
    queries: np.ndarray,
    bank: np.ndarray,
    k: int,
    *,
    metric: str,
    bank_transform: RowTransform,
    device: torch.device,
    query_chunk: int = DEFAULT_QUERY_CHUNK,
    bank_chunk: int = DEFAULT_BANK_CHUNK,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k search of ``queries`` in ``bank``.

    Args:
        queries: Already transformed float32 queries, shape ``(Q, D)``.
        bank: Raw bank features (float32 or float16), shape ``(N, D)``; ``bank_transform`` is applied per block.
        k: Number of neighbours, ``1 <= k <= N``.
        metric: ``"ip"`` (inner product, larger is nearer) or ``"l2"`` (squared Euclidean distance, smaller is nearer).
        bank_transform: Centring/normalisation applied to every bank block.
        device: Device the arithmetic runs on.
        query_chunk: Queries per score block.
        bank_chunk: Bank items per score block.

    Returns:
        ``(scores, indices)``: float32 and int64 arrays of shape ``(Q, k)``, nearest first; scores are inner products
        for ``"ip"`` and squared distances for ``"l2"``.
    """
    if query_chunk < 1 or bank_chunk < 1:
        raise ValueError(f"query_chunk and bank_chunk must be positive, got {query_chunk} and {bank_chunk}")
    q = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32)).to(device)
    q_chunks = [q[s : s + query_chunk] for s in range(0, q.shape[0], query_chunk)]
    best = [_empty(c.shape[0], device) for c in q_chunks]
    # One score buffer reused for every block: re-allocating it would page-fault hundreds of MiB per block.
    buffer = torch.empty(min(query_chunk, q.shape[0]) * min(bank_chunk, bank.shape[0]), device=device)
    with torch.inference_mode():
        for start in range(0, bank.shape[0], bank_chunk):
            block = bank_transform.apply_torch(_to_tensor(bank[start : start + bank_chunk]).to(device))
            block_sq = (block * block).sum(dim=1) if metric == "l2" else None
            for i, qc in enumerate(q_chunks):
                out = buffer[: qc.shape[0] * block.shape[0]].view(qc.shape[0], block.shape[0])
                values, indices = block_topk(_similarity(qc, block, block_sq, out), k)
                best[i] = merge_topk(best[i], (values, indices + start), k)
        values = torch.cat([b[0] for b in best]).cpu()
        indices = torch.cat([b[1] for b in best]).cpu()
        if metric == "l2":
            values = ((q * q).sum(dim=1, keepdim=True).cpu() - values).clamp_min(0.0)
    return values.numpy().astype(np.float32, copy=False), indices.numpy().astype(np.int64, copy=False)


def _similarity(
    queries: torch.Tensor, block: torch.Tensor, block_sq: torch.Tensor | None, out: torch.Tensor
) -> torch.Tensor:
    """Score block (into ``out``) where larger is nearer: ``q.b`` for inner product, ``2 q.b - |b|^2`` for L2."""
    if block_sq is None:
        return torch.mm(queries, block.T, out=out)
    return torch.addmm(block_sq.neg().unsqueeze(0), queries, block.T, alpha=2.0, out=out)


def _to_tensor(chunk: np.ndarray) -> torch.Tensor:
    """A tensor sharing the chunk's memory (copied when the array is read-only, e.g. a read-only memmap)."""
    return torch.from_numpy(chunk if chunk.flags.writeable else chunk.copy())


def _empty(rows: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    return (
        torch.empty(rows, 0, dtype=torch.float32, device=device),
        torch.empty(rows, 0, dtype=torch.int64, device=device),
    )
