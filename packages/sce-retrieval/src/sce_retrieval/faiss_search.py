"""Exact k-NN search with FAISS flat indexes (``IndexFlatIP`` / ``IndexFlatL2``), on the GPU when FAISS sees one.

FAISS is optional: ``pip install sce-retrieval[faiss-cpu]`` or ``sce-retrieval[faiss-gpu]`` (never both: the two
wheels ship the same ``faiss`` module and break each other, so the extras are mutually exclusive).
"""

from __future__ import annotations

import importlib
import importlib.metadata
from types import ModuleType
from typing import Any

import numpy as np

from sce_retrieval.topk import canonical_order_numpy
from sce_retrieval.transform import RowTransform

CPU_DISTRIBUTIONS = ("faiss-cpu",)
GPU_DISTRIBUTIONS = ("faiss-gpu", "faiss-gpu-cu12", "faiss-gpu-cu11")
# Largest k that FAISS GPU flat indexes accept.
GPU_MAX_K = 2048
# Bank rows transformed and added to the index at a time.
_ADD_CHUNK_ROWS = 65536


def installed_distributions() -> set[str]:
    """Names of the FAISS distributions installed in this environment (e.g. ``{"faiss-cpu"}``)."""
    found = set()
    for name in CPU_DISTRIBUTIONS + GPU_DISTRIBUTIONS:
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found.add(name)
    return found


def check_single_faiss_wheel() -> None:
    """Raise ``RuntimeError`` when a CPU and a GPU FAISS wheel are installed together."""
    found = installed_distributions()
    cpu, gpu = sorted(found & set(CPU_DISTRIBUTIONS)), sorted(found & set(GPU_DISTRIBUTIONS))
    if cpu and gpu:
        raise RuntimeError(
            f"both a CPU and a GPU FAISS wheel are installed ({', '.join(cpu + gpu)}); they provide the same "
            f"'faiss' module and break each other. Uninstall both, then install exactly one: "
            f"`pip install sce-retrieval[faiss-cpu]` or `pip install sce-retrieval[faiss-gpu]`."
        )


def load_faiss() -> ModuleType | None:
    """Import FAISS after checking the wheels; ``None`` when it is not installed."""
    check_single_faiss_wheel()
    try:
        return importlib.import_module("faiss")
    except ImportError:
        return None


def faiss_gpu_count(faiss: ModuleType) -> int:
    """Number of GPUs FAISS can use (0 for the CPU wheel)."""
    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get is not None else 0


def faiss_search(
    faiss: ModuleType,
    queries: np.ndarray,
    bank: np.ndarray,
    k: int,
    *,
    metric: str,
    bank_transform: RowTransform,
    use_gpu: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k search with a FAISS flat index, following the tie rule of :mod:`sce_retrieval.topk`.

    Args:
        faiss: The imported ``faiss`` module.
        queries: Already transformed float32 queries, shape ``(Q, D)``.
        bank: Raw bank features, shape ``(N, D)``; transformed block by block while the index is filled.
        k: Number of neighbours, ``1 <= k <= N``.
        metric: ``"ip"`` or ``"l2"`` (squared distances).
        bank_transform: Centring/normalisation applied to the bank.
        use_gpu: Build the index on GPU 0.

    Returns:
        ``(scores, indices)`` as in :func:`sce_retrieval.search`.
    """
    if use_gpu and k > GPU_MAX_K:
        raise ValueError(f"k={k} exceeds the FAISS GPU limit of {GPU_MAX_K}; use device='cpu' or backend='torch'")
    resources = faiss.StandardGpuResources() if use_gpu else None  # must outlive the index
    index = _build_index(faiss, bank, metric=metric, bank_transform=bank_transform, gpu_resources=resources)
    q = np.ascontiguousarray(queries, dtype=np.float32)
    n = bank.shape[0]
    fetch = min(k + 1, n)
    scores, indices = index.search(q, fetch)
    sims = -scores if metric == "l2" else scores
    tied = np.flatnonzero(sims[:, k - 1] == sims[:, k]) if fetch > k else np.empty(0, dtype=np.int64)
    sims, indices = canonical_order_numpy(sims[:, :k], indices[:, :k].astype(np.int64))
    limit = min(n, GPU_MAX_K) if use_gpu else n
    for row in tied:
        sims[row], indices[row] = _resolve_tie(index, q[row : row + 1], k, metric=metric, limit=limit)
    out = -sims if metric == "l2" else sims
    return out.astype(np.float32, copy=False), indices


def _build_index(
    faiss: ModuleType, bank: np.ndarray, *, metric: str, bank_transform: RowTransform, gpu_resources: Any
) -> Any:
    dim = bank.shape[1]
    if gpu_resources is not None:
        flat = faiss.GpuIndexFlatIP if metric == "ip" else faiss.GpuIndexFlatL2
        index = flat(gpu_resources, dim)
    else:
        index = faiss.IndexFlatIP(dim) if metric == "ip" else faiss.IndexFlatL2(dim)
    for start in range(0, bank.shape[0], _ADD_CHUNK_ROWS):
        index.add(bank_transform.apply_numpy(bank[start : start + _ADD_CHUNK_ROWS]))
    return index


def _resolve_tie(index: Any, query: np.ndarray, k: int, *, metric: str, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Re-search one query with a growing k until the group tied at place k is complete, then apply the tie rule."""
    fetch = min(2 * k + 1, limit)
    while True:
        scores, indices = index.search(query, fetch)
        sims = -scores[0] if metric == "l2" else scores[0]
        if fetch >= limit or sims[fetch - 1] != sims[k - 1]:
            break
        fetch = min(2 * fetch, limit)
    sims, ids = canonical_order_numpy(sims[None, :], indices[:1].astype(np.int64))
    return sims[0, :k], ids[0, :k]
