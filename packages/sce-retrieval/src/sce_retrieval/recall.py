"""Retrieval recall@k, exactly as the authors' protocol (SPEC 5.5, E:run/retrieval_from_bank.py).

Each set is centred on its own mean and L2-normalised, similarity is cosine, and a query is a hit at k when any of
its k nearest bank items carries the query's label. R@k is the mean hit rate.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from sce_retrieval.exact_search import resolve_backend, search_prepared
from sce_retrieval.inputs import as_features, as_labels, check_ks
from sce_retrieval.torch_search import DEFAULT_BANK_CHUNK, DEFAULT_QUERY_CHUNK
from sce_retrieval.transform import make_transform

DEFAULT_KS = (1, 5, 10, 20, 50)


def recall_at_k(
    query_features: Any,
    query_labels: Any,
    bank_features: Any,
    bank_labels: Any,
    ks: Iterable[int] | int = DEFAULT_KS,
    *,
    center: bool = True,
    normalize: bool = True,
    backend: str = "auto",
    device: str = "auto",
    query_chunk: int = DEFAULT_QUERY_CHUNK,
    bank_chunk: int = DEFAULT_BANK_CHUNK,
) -> dict[int, float]:
    """Recall@k of retrieving, for every query, a bank item of the same label (SPEC 5.5).

    Any positive ``ks`` no larger than the bank work: the default ``(1, 5, 10, 20, 50)`` is this project's report
    set, the authors reported ``(1, 5, 10, 15, 20, 25)``. The published "Retrieval 1" is ``R@1``. Neighbours are
    ranked by cosine similarity and ties follow the library-wide rule (smaller bank index first), so results are
    deterministic for a given backend.

    Args:
        query_features: Queries ``(Q, D)`` (the test split).
        query_labels: Integer labels ``(Q,)``; any values, not necessarily ``0..C-1``.
        bank_features: Bank ``(N, D)`` (the train split), float32 or float16.
        bank_labels: Integer labels ``(N,)``.
        ks: Neighbour counts.
        center: Centre each set on its own mean (SPEC 5.5: both True).
        normalize: L2-normalise each row after centring.
        backend: Search backend (see :func:`sce_retrieval.search`).
        device: Search device.
        query_chunk: Queries per torch score block.
        bank_chunk: Bank items per torch score block.

    Returns:
        ``{k: recall}`` with recall in ``[0, 1]``, keys sorted ascending.

    Raises:
        ValueError: Mismatched shapes or dimensions, empty sets, NaN features, a k larger than the bank, or
            degenerate features: a collapsed (constant) set, or rows that are zero after centring (or before
            normalising), named by set and counted (:func:`sce_retrieval.transform.check_degenerate`).

    Examples:
        >>> import numpy as np
        >>> bank = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=np.float32)
        >>> queries = np.array([[0.9, 0.1], [0.1, 0.9]], dtype=np.float32)
        >>> recall_at_k(queries, [7, 3], bank, [7, 5, 3], ks=(1, 2), center=False, backend="torch")
        {1: 0.5, 2: 0.5}
    """
    bank = as_features(bank_features, "bank_features")
    queries = as_features(query_features, "query_features", dim=bank.shape[1])
    q_labels = as_labels(query_labels, "query_labels", length=queries.shape[0])
    b_labels = as_labels(bank_labels, "bank_labels", length=bank.shape[0])
    k_values = check_ks(ks, bank.shape[0])
    _, indices = search_prepared(
        queries,
        bank,
        k_values[-1],
        metric="ip",
        query_transform=make_transform(queries, center=center, normalize=normalize, name="query_features"),
        bank_transform=make_transform(bank, center=center, normalize=normalize, name="bank_features", bank=True),
        plan=resolve_backend(backend, device, k=k_values[-1]),
        query_chunk=query_chunk,
        bank_chunk=bank_chunk,
    )
    return recall_from_neighbours(indices, q_labels, b_labels, k_values)


def recall_from_neighbours(
    indices: np.ndarray, query_labels: np.ndarray, bank_labels: np.ndarray, ks: Iterable[int]
) -> dict[int, float]:
    """Recall@k from already ranked neighbour indices.

    Args:
        indices: Bank indices ``(Q, K)``, nearest first, with ``K >= max(ks)``.
        query_labels: Labels ``(Q,)``.
        bank_labels: Labels ``(N,)``.
        ks: Neighbour counts.

    Returns:
        ``{k: recall}``.
    """
    matches = bank_labels[indices] == query_labels[:, None]
    first_hit = np.where(matches.any(axis=1), matches.argmax(axis=1), indices.shape[1])
    return {int(k): float(np.mean(first_hit < k)) for k in sorted(ks)}
