from __future__ import annotations

import numpy as np
import pytest

import sce_retrieval.faiss_search as fs
from sce_retrieval import resolve_backend, search


def float64_topk_scores(queries: np.ndarray, bank: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Cosine similarities (float64) of the returned neighbours."""
    qn = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    bn = bank / np.linalg.norm(bank, axis=1, keepdims=True)
    return np.einsum("qd,qkd->qk", qn.astype(np.float64), bn.astype(np.float64)[indices])


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_faiss_and_torch_return_the_same_neighbours(metric: str) -> None:
    pytest.importorskip("faiss")
    rng = np.random.default_rng(0)
    bank = rng.standard_normal((400, 32)).astype(np.float32)
    queries = rng.standard_normal((50, 32)).astype(np.float32)
    s_faiss, i_faiss = search(queries, bank, 12, metric=metric, backend="faiss", device="cpu")
    s_torch, i_torch = search(queries, bank, 12, metric=metric, backend="torch", bank_chunk=64, query_chunk=16)
    np.testing.assert_allclose(s_faiss, s_torch, rtol=1e-4, atol=1e-4)
    # Up to near-ties: where the orders differ, the swapped items must have (float64) equal scores.
    if metric == "cosine":
        np.testing.assert_allclose(
            float64_topk_scores(queries, bank, i_faiss), float64_topk_scores(queries, bank, i_torch), atol=1e-6
        )
    assert (i_faiss == i_torch).mean() > 0.99


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_exact_ties_are_broken_identically(metric: str) -> None:
    pytest.importorskip("faiss")
    rng = np.random.default_rng(1)
    bank = rng.integers(-1, 2, size=(300, 4)).astype(np.float32)  # 81 distinct rows: each one repeated ~4 times
    queries = rng.integers(-1, 2, size=(40, 4)).astype(np.float32)
    s_faiss, i_faiss = search(queries, bank, 9, metric=metric, backend="faiss", device="cpu")
    s_torch, i_torch = search(queries, bank, 9, metric=metric, backend="torch", bank_chunk=37)
    np.testing.assert_array_equal(i_faiss, i_torch)
    np.testing.assert_array_equal(s_faiss, s_torch)
    # The rule itself: within equal scores, indices ascend.
    same = s_torch[:, 1:] == s_torch[:, :-1]
    assert same.any() and (i_torch[:, 1:][same] > i_torch[:, :-1][same]).all()


def test_tie_group_larger_than_twice_k_is_resolved() -> None:
    pytest.importorskip("faiss")
    bank = np.ones((100, 3), np.float32)
    bank[57] = 2.0
    s, i = search(np.ones((2, 3), np.float32), bank, 3, metric="ip", backend="faiss", device="cpu")
    assert i.tolist() == [[57, 0, 1], [57, 0, 1]]
    np.testing.assert_array_equal(s[0], [6.0, 3.0, 3.0])


def test_both_faiss_wheels_installed_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fs, "installed_distributions", lambda: {"faiss-cpu", "faiss-gpu"})
    with pytest.raises(RuntimeError, match="both a CPU and a GPU FAISS wheel.*faiss-cpu, faiss-gpu"):
        search(np.ones((1, 2), np.float32), np.ones((3, 2), np.float32), 1)
    with pytest.raises(RuntimeError, match="both a CPU and a GPU FAISS wheel"):
        resolve_backend("faiss")
    # The torch backend does not touch FAISS, so it still works.
    assert resolve_backend("torch", "cpu").backend == "torch"


def test_installed_distributions_sees_this_environment() -> None:
    pytest.importorskip("faiss")
    assert fs.installed_distributions() & {"faiss-cpu", "faiss-gpu", "faiss-gpu-cu12", "faiss-gpu-cu11"}
    fs.check_single_faiss_wheel()  # the dev environment has exactly one wheel
