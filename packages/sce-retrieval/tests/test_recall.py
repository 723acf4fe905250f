from __future__ import annotations

import numpy as np
import pytest

from sce_retrieval import DEFAULT_KS, recall_at_k
from sce_retrieval.recall import recall_from_neighbours

BACKENDS = [
    "torch",
    pytest.param(
        "faiss",
        marks=pytest.mark.skipif(__import__("importlib").util.find_spec("faiss") is None, reason="faiss not installed"),
    ),
]


def brute_force_recall(q, ql, b, bl, ks, center=True, normalize=True) -> dict[int, float]:
    """SPEC 5.5 by hand in float64: centre each set on its own mean, L2-normalise, cosine, hit if any of top-k."""
    q, b = q.astype(np.float64), b.astype(np.float64)
    if center:
        q, b = q - q.mean(0), b - b.mean(0)
    if normalize:
        q, b = q / np.linalg.norm(q, axis=1, keepdims=True), b / np.linalg.norm(b, axis=1, keepdims=True)
    sims = q @ b.T
    out = {}
    for k in ks:
        hits = []
        for i in range(len(q)):
            ranking = sorted(range(len(b)), key=lambda j: (-sims[i, j], j))  # tie rule: smaller index first
            hits.append(any(bl[j] == ql[i] for j in ranking[:k]))
        out[k] = float(np.mean(hits))
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_matches_brute_force_on_random_banks_with_odd_labels(backend: str) -> None:
    rng = np.random.default_rng(0)
    labels = np.array([-7, 3, 1000, 42])  # not 0..C-1
    bank, queries = rng.standard_normal((120, 12)) + 2.0, rng.standard_normal((35, 12)) - 1.0
    bl, ql = labels[rng.integers(0, 4, 120)], labels[rng.integers(0, 4, 35)]
    ks = (1, 2, 5, 10, 50, 120)
    got = recall_at_k(queries.astype(np.float32), ql, bank.astype(np.float32), bl, ks, backend=backend, bank_chunk=32)
    assert got == pytest.approx(brute_force_recall(queries, ql, bank, bl, ks), abs=1e-12)
    assert list(got) == sorted(ks) and got[120] == 1.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_ties_follow_the_smaller_index_rule(backend: str) -> None:
    # Raw inner products of small integers are exact, so many bank items tie exactly.
    rng = np.random.default_rng(1)
    bank = rng.integers(0, 2, size=(60, 3)).astype(np.float32)
    queries = rng.integers(0, 2, size=(25, 3)).astype(np.float32)
    queries[0] = 1.0
    bl, ql = rng.integers(10, 13, 60), rng.integers(10, 13, 25)
    ks = (1, 3, 7, 20)
    got = recall_at_k(queries, ql, bank, bl, ks, center=False, normalize=False, backend=backend, bank_chunk=16)
    assert got == pytest.approx(brute_force_recall(queries, ql, bank, bl, ks, center=False, normalize=False))


def test_duplicate_bank_items_with_different_labels() -> None:
    bank = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [-1.0, -1.0]], dtype=np.float32)  # items 0 and 2 tie
    queries = np.array([[1.0, 0.1], [0.9, 0.0]], dtype=np.float32)
    got = recall_at_k(queries, [5, 9], bank, [9, 5, 5, 9], ks=(1, 2), center=False, backend="torch")
    # query 0 (label 5): ranking [0 (9), 2 (5), ...]: miss at 1, hit at 2. query 1 (label 9): item 0 first: hit at 1.
    assert got == {1: 0.5, 2: 1.0}


def test_centring_uses_each_sets_own_mean() -> None:
    # After centring, the query set becomes [[-1, 0], [1, 0]] and the bank [[-1, 0], [1, 0]] whatever the offsets.
    queries = np.array([[9.0, 5.0], [11.0, 5.0]], dtype=np.float32)
    bank = np.array([[-101.0, 7.0], [-99.0, 7.0]], dtype=np.float32)
    assert recall_at_k(queries, [0, 1], bank, [0, 1], ks=1, backend="torch") == {1: 1.0}
    # Without centring every direction is dominated by the offsets: both queries pick the same item.
    assert recall_at_k(queries, [0, 1], bank, [0, 1], ks=1, center=False, backend="torch") == {1: 0.5}


def test_default_ks_and_from_neighbours() -> None:
    assert DEFAULT_KS == (1, 5, 10, 20, 50)
    indices = np.array([[3, 1, 0], [2, 1, 0]])  # labels [0, 1, 4]: first hits at ranks 2 and 3
    got = recall_from_neighbours(indices, np.array([1, 4]), np.array([4, 1, 0, 0]), [3, 1, 2])
    assert got == {1: 0.0, 2: 0.5, 3: 1.0}


def test_bad_inputs_are_clear_errors() -> None:
    bank, queries = np.ones((5, 3), np.float32), np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="ks=6 is larger than the bank"):
        recall_at_k(queries, [0, 1], bank, [0] * 5, ks=(1, 6))
    with pytest.raises(ValueError, match="query_labels: has 3 labels but the features have 2 rows"):
        recall_at_k(queries, [0, 1, 2], bank, [0] * 5)
    with pytest.raises(ValueError, match="bank_labels: expected integer labels"):
        recall_at_k(queries, [0, 1], bank, [0.5] * 5, ks=1)
    with pytest.raises(ValueError, match="ks: expected at least one"):
        recall_at_k(queries, [0, 1], bank, [0] * 5, ks=())
    with pytest.raises(ValueError, match="bank_features: is empty"):
        recall_at_k(queries, [0, 1], np.ones((0, 3), np.float32), [], ks=1)
    with pytest.raises(ValueError, match="query_features: feature dimension 4"):
        recall_at_k(np.ones((2, 4), np.float32), [0, 1], bank, [0] * 5, ks=1)
    nan_bank = bank.copy()
    nan_bank[4, 0] = np.nan
    with pytest.raises(ValueError, match="bank_features: row 4 contains NaN"):
        recall_at_k(queries, [0, 1], nan_bank, [0] * 5, ks=1)
