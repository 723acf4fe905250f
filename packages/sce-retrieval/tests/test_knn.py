from __future__ import annotations

import math

import numpy as np
import pytest

from sce_retrieval import knn_accuracy, knn_classify
from sce_retrieval.knn import knn_vote


def brute_force_knn(q, b, bl, k, t) -> np.ndarray:
    """Weighted k-NN by hand: cosine, top-k with smaller-index tie rule, votes exp(s / T), ties to smallest label."""
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    sims = q.astype(np.float64) @ b.astype(np.float64).T
    out = []
    for i in range(len(q)):
        ranking = sorted(range(len(b)), key=lambda j: (-sims[i, j], j))[:k]
        votes: dict[int, float] = {}
        for j in ranking:
            votes[int(bl[j])] = votes.get(int(bl[j]), 0.0) + math.exp(sims[i, j] / t)
        best = max(votes.values())
        out.append(min(c for c, v in votes.items() if v == best))
    return np.array(out)


@pytest.mark.parametrize(("k", "temperature"), [(1, 0.07), (5, 0.07), (20, 0.5), (60, 0.1)])
def test_matches_brute_force_with_odd_labels(k: int, temperature: float) -> None:
    rng = np.random.default_rng(k)
    labels = np.array([-3, 17, 250])
    bank = rng.standard_normal((60, 10)).astype(np.float32)
    queries = rng.standard_normal((30, 10)).astype(np.float32)
    bl = labels[rng.integers(0, 3, 60)]
    got = knn_classify(queries, bank, bl, k=k, temperature=temperature, backend="torch", bank_chunk=16)
    np.testing.assert_array_equal(got, brute_force_knn(queries, bank, bl, k, temperature))
    assert set(got.tolist()) <= set(labels.tolist()) and got.dtype == np.int64


def test_temperature_changes_the_vote_as_computed_by_hand() -> None:
    # One close neighbour of label 1 (cos 1.0) against two farther ones of label 2 (cos 0.8).
    bank = np.array([[1.0, 0.0], [0.8, 0.6], [0.8, -0.6]], dtype=np.float32)
    query = np.array([[1.0, 0.0]], dtype=np.float32)
    # T = 0.07: exp(1/0.07) = 1.6e6 > 2 exp(0.8/0.07) = 1.8e5, label 1 wins.
    assert knn_classify(query, bank, [1, 2, 2], k=3, temperature=0.07, backend="torch").tolist() == [1]
    # T = 1: e = 2.72 < 2 e^0.8 = 4.45, label 2 wins.
    assert knn_classify(query, bank, [1, 2, 2], k=3, temperature=1.0, backend="torch").tolist() == [2]


def test_vote_ties_go_to_the_smallest_label() -> None:
    scores = np.array([[0.5, 0.5]])
    assert knn_vote(scores, np.array([[0, 1]]), np.array([9, -4]), temperature=0.1).tolist() == [-4]


def test_accuracy() -> None:
    bank = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    queries = np.array([[1.0, 0.1], [0.1, 1.0], [1.0, 0.2]], dtype=np.float32)
    acc = knn_accuracy(queries, [7, 8, 8], bank, [7, 8], k=1, backend="torch")
    assert acc == pytest.approx(2 / 3)


def test_bad_inputs_are_clear_errors() -> None:
    bank = np.ones((4, 2), np.float32)
    with pytest.raises(ValueError, match="k=5 is larger than the bank"):
        knn_classify(bank, bank, [0, 1, 0, 1], k=5)
    with pytest.raises(ValueError, match="temperature: expected a positive number"):
        knn_classify(bank, bank, [0, 1, 0, 1], k=2, temperature=0.0)
    with pytest.raises(ValueError, match="bank_labels: has 3 labels"):
        knn_classify(bank, bank, [0, 1, 0], k=2)
    with pytest.raises(ValueError, match="query_labels: has 1 labels but the features have 4 rows"):
        knn_accuracy(bank, [0], bank, [0, 1, 0, 1], k=2)
