from __future__ import annotations

import numpy as np
import pytest
import torch

import sce_retrieval.torch_search as ts
from sce_retrieval.transform import RowTransform, make_transform


def reference(queries: np.ndarray, bank: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """float64 brute force: full score matrix, rows sorted by (nearest first, smaller index first)."""
    q, b = queries.astype(np.float64), bank.astype(np.float64)
    if metric == "l2":
        scores = ((q[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        keys = scores
    else:
        scores = q @ b.T
        keys = -scores
    idx = np.arange(b.shape[0])
    order = np.stack([np.lexsort((idx, row)) for row in keys])[:, :k]
    return np.take_along_axis(scores, order, axis=1), order


def run(queries: np.ndarray, bank: np.ndarray, k: int, metric: str, transform: RowTransform | None = None, **kw: int):
    return ts.torch_search(
        queries, bank, k, metric=metric, bank_transform=transform or RowTransform(), device=torch.device("cpu"), **kw
    )


@pytest.mark.parametrize("metric", ["ip", "l2"])
@pytest.mark.parametrize("chunks", [(1000, 1000), (7, 13), (1, 1), (64, 5)])
def test_matches_float64_brute_force(metric: str, chunks: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    bank = rng.standard_normal((150, 16)).astype(np.float32)
    queries = rng.standard_normal((40, 16)).astype(np.float32)
    scores, indices = run(queries, bank, 10, metric, query_chunk=chunks[0], bank_chunk=chunks[1])
    ref_scores, ref_indices = reference(queries, bank, 10, metric)
    np.testing.assert_array_equal(indices, ref_indices)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-4, atol=1e-4)
    assert scores.dtype == np.float32 and indices.dtype == np.int64


def test_bank_larger_than_one_chunk_equals_one_chunk_with_ties() -> None:
    rng = np.random.default_rng(1)
    bank = rng.integers(-2, 3, size=(97, 6)).astype(np.float32)  # small integers: exact products, many ties
    queries = rng.integers(-2, 3, size=(23, 6)).astype(np.float32)
    one = run(queries, bank, 15, "ip", query_chunk=1000, bank_chunk=1000)
    many = run(queries, bank, 15, "ip", query_chunk=4, bank_chunk=10)
    np.testing.assert_array_equal(one[1], many[1])
    np.testing.assert_array_equal(one[0], many[0])
    np.testing.assert_array_equal(one[1], reference(queries, bank, 15, "ip")[1])


def test_never_builds_more_than_one_score_block(monkeypatch: pytest.MonkeyPatch) -> None:
    shapes: list[tuple[int, ...]] = []
    original = ts._similarity

    def spy(q: torch.Tensor, b: torch.Tensor, b_sq: torch.Tensor | None, out: torch.Tensor) -> torch.Tensor:
        result = original(q, b, b_sq, out)
        shapes.append(tuple(result.shape))
        return result

    monkeypatch.setattr(ts, "_similarity", spy)
    rng = np.random.default_rng(2)
    bank = rng.standard_normal((250, 8)).astype(np.float32)
    queries = rng.standard_normal((30, 8)).astype(np.float32)
    _, indices = run(queries, bank, 5, "ip", query_chunk=8, bank_chunk=64)
    assert max(s[0] for s in shapes) <= 8 and max(s[1] for s in shapes) <= 64
    assert len(shapes) == 4 * 4  # ceil(30 / 8) query chunks x ceil(250 / 64) bank chunks
    np.testing.assert_array_equal(indices, reference(queries, bank, 5, "ip")[1])


def test_float16_bank_with_centring_and_normalisation() -> None:
    rng = np.random.default_rng(3)
    bank = (rng.standard_normal((120, 16)) + 3.0).astype(np.float16)
    queries = rng.standard_normal((10, 16)).astype(np.float32)
    transform = make_transform(bank, center=True, normalize=True)
    _, indices = run(queries, bank, 8, "ip", transform, bank_chunk=50)
    expected_bank = bank.astype(np.float32) - bank.astype(np.float64).mean(0).astype(np.float32)
    expected_bank /= np.linalg.norm(expected_bank, axis=1, keepdims=True)
    np.testing.assert_array_equal(indices, reference(queries, expected_bank, 8, "ip")[1])


def test_rejects_non_positive_chunks() -> None:
    bank = np.ones((3, 2), np.float32)
    with pytest.raises(ValueError, match="query_chunk and bank_chunk"):
        run(bank, bank, 1, "ip", query_chunk=0)


def test_read_only_memmap_bank(tmp_path, recwarn: pytest.WarningsRecorder) -> None:
    from sce_retrieval import search

    rng = np.random.default_rng(4)
    bank = rng.standard_normal((50, 8)).astype(np.float32)
    np.save(tmp_path / "bank.npy", bank)
    mapped = np.load(tmp_path / "bank.npy", mmap_mode="r")
    queries = rng.standard_normal((5, 8)).astype(np.float32)
    got = search(queries, mapped, 4, metric="ip", backend="torch", bank_chunk=16)
    np.testing.assert_array_equal(got[1], reference(queries, bank, 4, "ip")[1])
    assert not [w for w in recwarn if "not writable" in str(w.message)]
