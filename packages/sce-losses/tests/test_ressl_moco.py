from __future__ import annotations

import doctest
import importlib

import pytest
import torch
from losses_reference import reference_ressl, reference_sce, unit_rows

from sce_losses import moco_loss, ressl_loss, sce_loss


@pytest.mark.parametrize(("batch", "size"), [(1, 4), (4, 16), (8, 32)])
@pytest.mark.parametrize(("world", "rank"), [(None, 0), (1, 0), (2, 1)])
def test_ressl_matches_reference(batch, size, world, rank) -> None:
    g = torch.Generator().manual_seed(batch + size)
    q = unit_rows(batch, 8, generator=g).requires_grad_()
    k = unit_rows(batch, 8, generator=g)
    queue = unit_rows(size, 8, generator=g)
    all_keys = None
    if world is not None:
        all_keys = unit_rows(batch * world, 8, generator=g)
        all_keys[rank * batch : (rank + 1) * batch] = k
    got = ressl_loss(q, k, queue, temp=0.1, temp_m=0.04, all_keys=all_keys, rank=rank)
    want = reference_ressl(q, k, queue, 0.1, 0.04, all_keys, rank)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(torch.autograd.grad(got, q)[0], torch.autograd.grad(want, q)[0])


def test_sce_at_coeff_zero_is_not_ressl() -> None:
    # SPEC 1.3: SCE at λ=0 keeps the positive in the query softmax; ReSSL drops it.
    g = torch.Generator().manual_seed(0)
    q, k = unit_rows(2, 8, 16, generator=g)
    queue = unit_rows(32, 16, generator=g)
    sce0 = sce_loss(q, k, queue, coeff=0.0, temp=0.1, temp_m=0.04)
    torch.testing.assert_close(sce0, reference_sce(q, k, queue, 0.0, 0.1, 0.04))
    assert abs(sce0.item() - ressl_loss(q, k, queue).item()) > 1e-3


def test_ressl_and_moco_validate_inputs() -> None:
    q = torch.randn(4, 8)
    with pytest.raises(ValueError, match="needs a queue or all_keys"):
        ressl_loss(q, q, None)
    with pytest.raises(ValueError, match=r"queue must have one key per row with dimension D=8 .* got queue \(5, 3\)"):
        moco_loss(q, q, torch.randn(5, 3))
    with pytest.raises(ValueError, match="non-finite"):
        moco_loss(q, q * float("inf"), torch.randn(5, 8))


def test_moco_defaults_to_temperature_0_2() -> None:
    g = torch.Generator().manual_seed(1)
    q, k = unit_rows(2, 4, 8, generator=g)
    queue = unit_rows(8, 8, generator=g)
    torch.testing.assert_close(moco_loss(q, k, queue), sce_loss(q, k, queue, coeff=1.0, temp=0.2))


@pytest.mark.parametrize(
    "module",
    ["sce_losses.sce", "sce_losses.sce_module", "sce_losses.moco", "sce_losses.ressl", "sce_losses.distributed"],
)
def test_docstring_examples_run(module) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
