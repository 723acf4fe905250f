from __future__ import annotations

import numpy as np
import pytest
import torch

from sce_retrieval.topk import block_topk, canonical_order, canonical_order_numpy, merge_topk


def reference_topk(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row by (score descending, index ascending) with np.lexsort, keep k."""
    idx = np.arange(scores.shape[1])
    order = np.stack([np.lexsort((idx, -row)) for row in scores])[:, :k]
    return np.take_along_axis(scores, order, axis=1), order


@pytest.mark.parametrize("k", [1, 3, 7, 12, 20])
def test_block_topk_matches_reference_with_many_ties(k: int) -> None:
    rng = np.random.default_rng(k)
    scores = rng.integers(0, 4, size=(30, 12)).astype(np.float32)  # 4 distinct values in 12 columns: ties everywhere
    values, indices = block_topk(torch.from_numpy(scores), k)
    ref_values, ref_indices = reference_topk(scores, k)
    np.testing.assert_array_equal(indices.numpy(), ref_indices)
    np.testing.assert_array_equal(values.numpy(), ref_values)


def test_block_topk_without_ties_is_plain_topk() -> None:
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.7], [4.0, 3.0, 2.0, 1.0]])
    values, indices = block_topk(scores, 2)
    assert indices.tolist() == [[1, 3], [0, 1]]
    np.testing.assert_allclose(values.numpy(), [[0.9, 0.7], [4.0, 3.0]], rtol=1e-6)


def test_canonical_order_orders_equal_values_by_index() -> None:
    values = torch.tensor([[1.0, 2.0, 1.0, 2.0]])
    indices = torch.tensor([[9, 7, 3, 8]])
    v, i = canonical_order(values, indices)
    assert i.tolist() == [[7, 8, 3, 9]]
    assert v.tolist() == [[2.0, 2.0, 1.0, 1.0]]
    vn, inn = canonical_order_numpy(values.numpy(), indices.numpy())
    assert inn.tolist() == [[7, 8, 3, 9]] and vn.tolist() == [[2.0, 2.0, 1.0, 1.0]]


@pytest.mark.parametrize("block", [1, 2, 5, 12])
def test_merging_blocks_equals_one_block(block: int) -> None:
    rng = np.random.default_rng(block)
    scores = rng.integers(0, 3, size=(9, 12)).astype(np.float32)
    k = 4
    best = (torch.empty(9, 0), torch.empty(9, 0, dtype=torch.int64))
    for start in range(0, 12, block):
        v, i = block_topk(torch.from_numpy(scores[:, start : start + block]), k)
        best = merge_topk(best, (v, i + start), k)
    ref_values, ref_indices = reference_topk(scores, k)
    np.testing.assert_array_equal(best[1].numpy(), ref_indices)
    np.testing.assert_array_equal(best[0].numpy(), ref_values)
