"""Weighted k-nearest-neighbour classifier (Wu et al. 2018, InstDisc; the ``eval_knn.py`` protocol of DINO).

Each query takes its k most similar bank items (cosine similarity); neighbour ``j`` votes for its label with weight
``exp(s_j / T)``; the prediction is the label with the largest total vote.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sce_retrieval.exact_search import resolve_backend, search_prepared
from sce_retrieval.inputs import as_features, as_labels, check_k
from sce_retrieval.torch_search import DEFAULT_BANK_CHUNK, DEFAULT_QUERY_CHUNK
from sce_retrieval.transform import make_transform

# Queries whose vote table is built at a time (bounds the (queries x classes) table).
_VOTE_CHUNK_ROWS = 4096


def knn_classify(
    query_features: Any,
    bank_features: Any,
    bank_labels: Any,
    *,
    k: int = 20,
    temperature: float = 0.07,
    center: bool = False,
    normalize: bool = True,
    backend: str = "auto",
    device: str = "auto",
    query_chunk: int = DEFAULT_QUERY_CHUNK,
    bank_chunk: int = DEFAULT_BANK_CHUNK,
) -> np.ndarray:
    """Predict a label for every query by a similarity-weighted vote of its k nearest bank items.

    Args:
        query_features: Queries ``(Q, D)``.
        bank_features: Bank ``(N, D)``, float32 or float16.
        bank_labels: Integer labels ``(N,)``; any values, not necessarily ``0..C-1``.
        k: Number of voting neighbours, ``1 <= k <= N``.
        temperature: Vote temperature ``T > 0`` (weights ``exp(similarity / T)``).
        center: Centre each set on its own mean first (off in DINO's protocol; the CLI turns it on, like R@k).
        normalize: L2-normalise rows, so that similarities are cosines.
        backend: Search backend (see :func:`sce_retrieval.search`).
        device: Search device.
        query_chunk: Queries per torch score block.
        bank_chunk: Bank items per torch score block.

    Returns:
        Predicted labels ``(Q,)`` (int64, values taken from ``bank_labels``). A tie between labels goes to the
        smallest label; neighbours tied in similarity follow the search tie rule (smaller bank index first).

    Raises:
        ValueError: Bad shapes, k or temperature, or degenerate features: a collapsed (constant) bank whatever the
            preprocessing, or rows left without a direction by it (:func:`sce_retrieval.transform.check_degenerate`).

    Examples:
        >>> import numpy as np
        >>> bank = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]], dtype=np.float32)
        >>> knn_classify(np.array([[1.0, 0.2]], dtype=np.float32), bank, [10, 10, 42], k=3, backend="torch").tolist()
        [10]
    """
    bank = as_features(bank_features, "bank_features")
    queries = as_features(query_features, "query_features", dim=bank.shape[1])
    labels = as_labels(bank_labels, "bank_labels", length=bank.shape[0])
    k = check_k(k, bank.shape[0])
    check_temperature(temperature)
    scores, indices = search_prepared(
        queries,
        bank,
        k,
        metric="ip",
        query_transform=make_transform(queries, center=center, normalize=normalize, name="query_features"),
        bank_transform=make_transform(bank, center=center, normalize=normalize, name="bank_features", bank=True),
        plan=resolve_backend(backend, device, k=k),
        query_chunk=query_chunk,
        bank_chunk=bank_chunk,
    )
    return knn_vote(scores, indices, labels, temperature=temperature)


def knn_accuracy(query_features: Any, query_labels: Any, bank_features: Any, bank_labels: Any, **kwargs: Any) -> float:
    """Top-1 accuracy of :func:`knn_classify` (keyword arguments are passed on to it).

    Args:
        query_features: Queries ``(Q, D)``.
        query_labels: True labels ``(Q,)``.
        bank_features: Bank ``(N, D)``.
        bank_labels: Labels ``(N,)``.
        **kwargs: ``k``, ``temperature``, ``center``, ``normalize``, ``backend``, ``device``, chunk sizes.

    Returns:
        The fraction of queries whose prediction equals their label.
    """
    queries = as_features(query_features, "query_features")
    truth = as_labels(query_labels, "query_labels", length=queries.shape[0])  # checked before the search
    predictions = knn_classify(queries, bank_features, bank_labels, **kwargs)
    return float(np.mean(predictions == truth))


def knn_vote(scores: np.ndarray, indices: np.ndarray, bank_labels: np.ndarray, *, temperature: float) -> np.ndarray:
    """Weighted vote from ranked neighbours.

    Args:
        scores: Similarities ``(Q, k)`` of the neighbours.
        indices: Bank indices ``(Q, k)``.
        bank_labels: Labels ``(N,)``.
        temperature: Vote temperature.

    Returns:
        Predicted labels ``(Q,)``.
    """
    check_temperature(temperature)
    classes, inverse = np.unique(bank_labels, return_inverse=True)
    neighbour_classes = inverse.reshape(-1)[indices]
    predictions = np.empty(indices.shape[0], dtype=np.int64)
    for start in range(0, indices.shape[0], _VOTE_CHUNK_ROWS):
        rows = slice(start, start + _VOTE_CHUNK_ROWS)
        s = scores[rows].astype(np.float64)
        # Subtracting the row maximum rescales every weight of a row by the same factor: the argmax is unchanged.
        weights = np.exp((s - s.max(axis=1, keepdims=True)) / temperature)
        votes = np.zeros((s.shape[0], classes.shape[0]), dtype=np.float64)
        np.add.at(votes, (np.arange(s.shape[0])[:, None], neighbour_classes[rows]), weights)
        predictions[rows] = classes[votes.argmax(axis=1)]
    return predictions


def check_temperature(temperature: float) -> None:
    """Raise ``ValueError`` unless ``temperature`` is a finite positive number."""
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not np.isfinite(temperature):
        raise ValueError(f"temperature: expected a finite positive number, got {temperature!r}")
    if temperature <= 0:
        raise ValueError(f"temperature: expected a positive number, got {temperature}")
