"""Exact k-nearest-neighbour search: the public :func:`search` and backend selection.

Backends: FAISS flat indexes (GPU when FAISS sees one, otherwise CPU) and an exact blocked torch search
(:mod:`sce_retrieval.torch_search`). Every backend follows the same tie rule (:mod:`sce_retrieval.topk`): among
exactly equal scores the smaller bank index ranks first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sce_retrieval.faiss_search import GPU_MAX_K, faiss_gpu_count, faiss_search, load_faiss
from sce_retrieval.inputs import as_features, check_k
from sce_retrieval.torch_search import DEFAULT_BANK_CHUNK, DEFAULT_QUERY_CHUNK, torch_search
from sce_retrieval.transform import RowTransform

METRICS = ("cosine", "ip", "l2")
BACKENDS = ("auto", "faiss", "torch")


@dataclass(frozen=True)
class Plan:
    """Where a search runs.

    Attributes:
        backend: ``"faiss"`` or ``"torch"``.
        device: ``"cpu"`` or a CUDA device string such as ``"cuda"``.
    """

    backend: str
    device: str


def resolve_backend(backend: str = "auto", device: str = "auto", *, k: int = 1) -> Plan:
    """Choose the backend and device for a search.

    ``backend="auto"`` picks FAISS on the GPU when FAISS sees one, FAISS on the CPU when it is installed (unless
    ``device`` asks for CUDA), and otherwise the exact torch search (on CUDA when torch sees a GPU and ``device`` is
    ``"auto"``).

    Args:
        backend: ``"auto"``, ``"faiss"`` or ``"torch"``.
        device: ``"auto"``, ``"cpu"``, or ``"cuda"`` (the torch backend accepts any torch device, e.g. ``"cuda:1"``).
        k: The neighbour count (FAISS on the GPU accepts at most 2048).

    Returns:
        The chosen :class:`Plan`.

    Raises:
        ValueError: Unknown backend or device. ImportError: FAISS requested but not installed.
        RuntimeError: Both FAISS wheels installed, or CUDA requested but unavailable.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    _check_device_name(device)
    if backend == "torch":
        return Plan("torch", _torch_device(device))
    faiss = load_faiss()
    if faiss is None:
        if backend == "faiss":
            raise ImportError("backend='faiss' needs FAISS: pip install 'sce-retrieval[faiss-cpu]' (or [faiss-gpu])")
        return Plan("torch", _torch_device(device))
    gpus = faiss_gpu_count(faiss)
    wants_cuda = device.startswith("cuda")
    if backend == "faiss":
        if wants_cuda and gpus == 0:
            raise RuntimeError(f"device={device!r}: FAISS sees no GPU (is the faiss-gpu wheel installed?)")
        return Plan("faiss", "cuda" if (wants_cuda or (device == "auto" and gpus > 0)) else "cpu")
    if gpus > 0 and device != "cpu" and k <= GPU_MAX_K:
        return Plan("faiss", "cuda")
    if wants_cuda:
        return Plan("torch", _torch_device(device))
    return Plan("faiss", "cpu")


def search(
    queries: Any,
    bank: Any,
    k: int,
    *,
    metric: str = "cosine",
    backend: str = "auto",
    device: str = "auto",
    query_chunk: int = DEFAULT_QUERY_CHUNK,
    bank_chunk: int = DEFAULT_BANK_CHUNK,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k-nearest-neighbour search of every query in a bank.

    Args:
        queries: Query features, shape ``(Q, D)`` (NumPy array, torch tensor or :class:`~sce_retrieval.FeatureBank`).
        bank: Bank features, shape ``(N, D)`` (float32 or float16 array, tensor, or ``FeatureBank``).
        k: Number of neighbours, ``1 <= k <= N``.
        metric: ``"cosine"`` (rows L2-normalised, then inner product), ``"ip"`` (inner product) or ``"l2"``
            (squared Euclidean distance).
        backend: ``"auto"``, ``"faiss"`` or ``"torch"`` (see :func:`resolve_backend`).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        query_chunk: Queries per score block of the torch backend.
        bank_chunk: Bank items per score block of the torch backend (memory: ``4 * query_chunk * bank_chunk`` bytes).

    Returns:
        ``(scores, indices)``: float32 and int64 arrays of shape ``(Q, k)``, nearest first. Scores are similarities
        (larger is nearer) for ``"cosine"``/``"ip"`` and squared distances (smaller is nearer) for ``"l2"``. Among
        exactly equal scores the smaller bank index comes first (also when deciding which items enter the top k).

    Examples:
        >>> import numpy as np
        >>> bank = np.eye(3, dtype=np.float32)
        >>> scores, idx = search(np.array([[0.1, 0.9, 0.0]], dtype=np.float32), bank, k=2, backend="torch")
        >>> idx.tolist()
        [[1, 0]]
    """
    if metric not in METRICS:
        raise ValueError(f"metric: expected one of {METRICS}, got {metric!r}")
    bank_arr = as_features(_features_of(bank), "bank")
    query_arr = as_features(_features_of(queries), "queries", dim=bank_arr.shape[1])
    k = check_k(k, bank_arr.shape[0])
    normalize = metric == "cosine"
    return search_prepared(
        query_arr,
        bank_arr,
        k,
        metric="l2" if metric == "l2" else "ip",
        query_transform=RowTransform(normalize=normalize),
        bank_transform=RowTransform(normalize=normalize),
        plan=resolve_backend(backend, device, k=k),
        query_chunk=query_chunk,
        bank_chunk=bank_chunk,
    )


def search_prepared(
    queries: np.ndarray,
    bank: np.ndarray,
    k: int,
    *,
    metric: str,
    query_transform: RowTransform,
    bank_transform: RowTransform,
    plan: Plan,
    query_chunk: int = DEFAULT_QUERY_CHUNK,
    bank_chunk: int = DEFAULT_BANK_CHUNK,
) -> tuple[np.ndarray, np.ndarray]:
    """Search validated arrays with explicit per-set transforms (used by recall@k and k-NN).

    Args:
        queries: Validated query features ``(Q, D)``.
        bank: Validated bank features ``(N, D)``.
        k: Number of neighbours (validated here against ``N``).
        metric: ``"ip"`` or ``"l2"``, applied after the transforms.
        query_transform: Transform of the queries (applied once, up front).
        bank_transform: Transform of the bank (applied block by block).
        plan: Backend and device, from :func:`resolve_backend`.
        query_chunk: Queries per torch score block.
        bank_chunk: Bank items per torch score block.

    Returns:
        ``(scores, indices)`` as in :func:`search`.
    """
    k = check_k(k, bank.shape[0])
    q = query_transform.apply_numpy(queries)
    if plan.backend == "faiss":
        faiss = load_faiss()
        if faiss is None:
            raise ImportError("FAISS is not installed: pip install 'sce-retrieval[faiss-cpu]'")
        return faiss_search(
            faiss, q, bank, k, metric=metric, bank_transform=bank_transform, use_gpu=plan.device.startswith("cuda")
        )
    return torch_search(
        q,
        bank,
        k,
        metric=metric,
        bank_transform=bank_transform,
        device=torch.device(plan.device),
        query_chunk=query_chunk,
        bank_chunk=bank_chunk,
    )


def _features_of(x: Any) -> Any:
    """The feature matrix of a ``FeatureBank`` (anything with a ``features`` array), else ``x`` itself."""
    features = getattr(x, "features", None)
    return features if isinstance(features, np.ndarray) else x


def _check_device_name(device: str) -> None:
    if not isinstance(device, str) or not (device in ("auto", "cpu") or device.startswith("cuda")):
        raise ValueError(f"device: expected 'auto', 'cpu' or 'cuda[:N]', got {device!r}")


def _torch_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r}: torch sees no CUDA device")
    return device
