from __future__ import annotations

import numpy as np
import pytest
import torch

import sce_retrieval.exact_search as search_module
from sce_retrieval import FeatureBank, Plan, resolve_backend, search


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((20, 8)).astype(np.float32), rng.standard_normal((60, 8)).astype(np.float32)


def test_cosine_matches_hand_computation() -> None:
    bank = np.array([[1, 0], [0, 2], [3, 3], [-1, 0]], dtype=np.float32)
    queries = np.array([[2, 1]], dtype=np.float32)
    scores, indices = search(queries, bank, 4, backend="torch")
    # cosines with (2, 1)/sqrt(5): 2/sqrt5, 1/sqrt5, 3/sqrt10, -2/sqrt5
    assert indices.tolist() == [[2, 0, 1, 3]]
    np.testing.assert_allclose(scores[0], [3 / np.sqrt(10), 2 / np.sqrt(5), 1 / np.sqrt(5), -2 / np.sqrt(5)], rtol=1e-6)


def test_l2_returns_squared_distances_nearest_first() -> None:
    bank = np.array([[0, 0], [3, 4], [1, 1]], dtype=np.float32)
    scores, indices = search(np.array([[0, 1]], np.float32), bank, 3, metric="l2", backend="torch")
    assert indices.tolist() == [[0, 2, 1]]
    np.testing.assert_allclose(scores, [[1.0, 1.0, 18.0]], atol=1e-6)  # ties (1, 1) keep the smaller index first


def test_accepts_tensors_feature_banks_and_float16(data: tuple[np.ndarray, np.ndarray]) -> None:
    queries, bank = data
    expected = search(queries, bank, 5, backend="torch")[1]
    np.testing.assert_array_equal(
        search(torch.from_numpy(queries), torch.from_numpy(bank), 5, backend="torch")[1], expected
    )
    np.testing.assert_array_equal(
        search(queries, FeatureBank(bank, np.zeros(60, np.int64)), 5, backend="torch")[1], expected
    )
    half = search(queries, bank.astype(np.float16), 5, backend="torch")[1]
    assert (half == expected).mean() > 0.9


@pytest.mark.parametrize(
    ("queries_shape", "bank_shape", "k", "message"),
    [
        ((3, 4), (5, 6), 1, "queries: feature dimension 4 does not match the expected dimension 6"),
        ((3, 4), (0, 4), 1, "bank: is empty"),
        ((0, 4), (5, 4), 1, "queries: is empty"),
        ((3, 4), (5, 4), 6, "k=6 is larger than the bank"),
        ((3, 4), (5, 4), 0, "k: expected a positive integer"),
        ((4,), (5, 4), 1, "queries: expected a 2-D"),
    ],
)
def test_bad_shapes_are_clear_errors(queries_shape: tuple, bank_shape: tuple, k: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        search(np.ones(queries_shape, np.float32), np.ones(bank_shape, np.float32), k, backend="torch")


def test_nan_and_integer_features_are_clear_errors() -> None:
    bank = np.ones((5, 3), np.float32)
    bank[3, 1] = np.nan
    with pytest.raises(ValueError, match="bank: row 3 contains NaN or infinite values"):
        search(np.ones((2, 3), np.float32), bank, 1)
    with pytest.raises(ValueError, match="queries: row 0 contains NaN"):
        search(np.full((2, 3), np.inf, np.float32), np.ones((5, 3), np.float32), 1)
    with pytest.raises(ValueError, match="expected floating-point features"):
        search(np.ones((2, 3), np.int64), np.ones((5, 3), np.float32), 1)


def test_bad_options_are_clear_errors(data: tuple[np.ndarray, np.ndarray]) -> None:
    queries, bank = data
    with pytest.raises(ValueError, match="metric: expected one of"):
        search(queries, bank, 1, metric="dot")
    with pytest.raises(ValueError, match="backend: expected one of"):
        search(queries, bank, 1, backend="annoy")
    with pytest.raises(ValueError, match="device: expected"):
        search(queries, bank, 1, device="tpu")


def test_resolve_backend_without_faiss(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_module, "load_faiss", lambda: None)
    assert resolve_backend("auto", "cpu") == Plan("torch", "cpu")
    with pytest.raises(ImportError, match=r"sce-retrieval\[faiss-cpu\]"):
        resolve_backend("faiss")


class FakeFaiss:
    def __init__(self, gpus: int) -> None:
        self.gpus = gpus

    def get_num_gpus(self) -> int:
        return self.gpus


@pytest.mark.parametrize(
    ("gpus", "backend", "device", "k", "expected"),
    [
        (0, "auto", "auto", 5, Plan("faiss", "cpu")),
        (1, "auto", "auto", 5, Plan("faiss", "cuda")),
        (1, "auto", "cpu", 5, Plan("faiss", "cpu")),
        (1, "faiss", "auto", 5, Plan("faiss", "cuda")),
        (0, "faiss", "cpu", 5, Plan("faiss", "cpu")),
    ],
)
def test_resolve_backend_with_faiss(
    monkeypatch: pytest.MonkeyPatch, gpus: int, backend: str, device: str, k: int, expected: Plan
) -> None:
    monkeypatch.setattr(search_module, "load_faiss", lambda: FakeFaiss(gpus))
    assert resolve_backend(backend, device, k=k) == expected


def test_cuda_requests_without_a_gpu_are_clear_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_module, "load_faiss", lambda: FakeFaiss(0))
    with pytest.raises(RuntimeError, match="FAISS sees no GPU"):
        resolve_backend("faiss", "cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="torch sees no CUDA device"):
        resolve_backend("torch", "cuda")
    assert resolve_backend("torch", "auto") == Plan("torch", "cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_torch_backend_on_cuda_matches_cpu(data: tuple[np.ndarray, np.ndarray]) -> None:
    queries, bank = data
    cpu = search(queries, bank, 7, backend="torch", device="cpu")
    gpu = search(queries, bank, 7, backend="torch", device="cuda", bank_chunk=16)
    np.testing.assert_array_equal(cpu[1], gpu[1])
    np.testing.assert_allclose(cpu[0], gpu[0], atol=1e-5)
