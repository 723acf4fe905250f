from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from losses_reference import reference_moco, reference_sce, unit_rows

from sce_losses import moco_loss, sce_loss

SHAPES = [(1, 4, 0), (1, 4, 3), (3, 8, 5), (8, 16, 32), (16, 32, 64)]
COEFFS = [0.0, 0.125, 0.5, 1.0, 1.5]
TEMPS = [(0.1, 0.07), (0.2, 0.05), (1.0, 0.5)]


def _inputs(batch: int, dim: int, size: int, seed: int, dtype: torch.dtype = torch.float64):
    g = torch.Generator().manual_seed(seed)
    q = unit_rows(batch, dim, generator=g, dtype=dtype).requires_grad_()
    k = unit_rows(batch, dim, generator=g, dtype=dtype)
    queue = unit_rows(size, dim, generator=g, dtype=dtype) if size else None
    return q, k, queue


def test_hand_computed_single_sample() -> None:
    # q=(1,0), k=(0,1), one queue key (1,0); λ=0.5, τ=0.1, τm=0.07.
    q = torch.tensor([[1.0, 0.0]])
    k = torch.tensor([[0.0, 1.0]])
    queue = torch.tensor([[1.0, 0.0]])
    # ℓq = [q·k, q·Q]/τ = [0, 10]; ℓk = [0 (the authors' constant), k·Q/τm = 0] -> softmax [1/2, 1/2].
    # w = 0.5·[1, 0] + 0.5·[1/2, 1/2] = [3/4, 1/4]; loss = −(3/4·log p0 + 1/4·log p1), p = softmax([0, 10]).
    log_z = math.log(1 + math.exp(10))
    expected = -(0.75 * (0 - log_z) + 0.25 * (10 - log_z))
    got = sce_loss(q, k, queue, coeff=0.5, temp=0.1, temp_m=0.07)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    # Paper formula: the positive is excluded from the target -> w = [1/2, 1/2].
    expected_paper = -(0.5 * (0 - log_z) + 0.5 * (10 - log_z))
    got_paper = sce_loss(q, k, queue, coeff=0.5, temp=0.1, temp_m=0.07, mask_positive_target=True)
    assert got_paper.item() == pytest.approx(expected_paper, rel=1e-6)


# The paper's variant (positive masked out of the target) needs at least one negative column.
SHAPES_AND_MASKING = [(*shape, False) for shape in SHAPES] + [(*shape, True) for shape in SHAPES if shape[2]]


@pytest.mark.parametrize(("batch", "dim", "size", "mask_positive_target"), SHAPES_AND_MASKING)
@pytest.mark.parametrize("coeff", COEFFS)
@pytest.mark.parametrize(("temp", "temp_m"), TEMPS)
def test_matches_reference_without_all_keys(batch, dim, size, mask_positive_target, coeff, temp, temp_m) -> None:
    q, k, queue = _inputs(batch, dim, size, seed=batch * 100 + size)
    kwargs = dict(coeff=coeff, temp=temp, temp_m=temp_m)
    got = sce_loss(q, k, queue, mask_positive_target=mask_positive_target, **kwargs)
    (grad,) = torch.autograd.grad(got, q)
    want = reference_sce(q, k, queue, mask_positive_target=mask_positive_target, **kwargs)
    (want_grad,) = torch.autograd.grad(want, q)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(grad, want_grad, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize(("batch", "dim", "size"), SHAPES)
@pytest.mark.parametrize(("world", "rank"), [(1, 0), (2, 0), (2, 1), (3, 2)])
@pytest.mark.parametrize("coeff", [0.0, 0.5, 1.0])
def test_matches_reference_with_all_keys(batch, dim, size, world, rank, coeff) -> None:
    q, k, queue = _inputs(batch, dim, size, seed=7 + batch + size)
    g = torch.Generator().manual_seed(world * 10 + rank)
    all_keys = unit_rows(batch * world, dim, generator=g)
    all_keys[rank * batch : (rank + 1) * batch] = k
    got = sce_loss(q, k, queue, coeff=coeff, temp=0.1, temp_m=0.05, all_keys=all_keys, rank=rank)
    want = reference_sce(q, k, queue, coeff, 0.1, 0.05, all_keys=all_keys, rank=rank)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)
    (grad,) = torch.autograd.grad(got, q)
    (want_grad,) = torch.autograd.grad(want, q)
    torch.testing.assert_close(grad, want_grad, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize(("batch", "dim", "size"), [s for s in SHAPES if s[2]])
def test_float32_within_1e6_of_float64_reference(batch, dim, size) -> None:
    q, k, queue = _inputs(batch, dim, size, seed=3)
    got = sce_loss(q.float(), k.float(), queue.float(), coeff=0.5, temp=0.1, temp_m=0.07)
    want = reference_sce(q, k, queue, 0.5, 0.1, 0.07)
    assert got.dtype == torch.float32
    assert abs(got.item() - want.item()) < 1e-6 * max(1.0, abs(want.item()))


def test_positive_quirk_changes_loss_only_slightly() -> None:
    # SPEC 1.2: the 0-logit positive takes ~e^0 against K terms of e^{sim/τm}; tiny but non-zero difference.
    q, k, queue = _inputs(8, 16, 32, seed=11)
    authors = sce_loss(q, k, queue, temp_m=0.07)
    paper = sce_loss(q, k, queue, temp_m=0.07, mask_positive_target=True)
    assert authors.item() != paper.item()
    assert abs(authors.item() - paper.item()) < 0.05


@pytest.mark.parametrize(("batch", "dim", "size"), [s for s in SHAPES if s[2]])
@pytest.mark.parametrize("temp", [0.07, 0.2, 0.5])
def test_coeff_one_equals_moco(batch, dim, size, temp) -> None:
    q, k, queue = _inputs(batch, dim, size, seed=5)
    sce = sce_loss(q, k, queue, coeff=1.0, temp=temp, temp_m=0.05)
    moco = moco_loss(q, k, queue, temp=temp)
    torch.testing.assert_close(sce, moco, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(moco, reference_moco(q, k, queue, temp), rtol=1e-10, atol=1e-10)


def test_gradients_reach_query_only() -> None:
    g = torch.Generator().manual_seed(0)
    q = unit_rows(4, 8, generator=g).requires_grad_()
    k = unit_rows(4, 8, generator=g).requires_grad_()
    queue = unit_rows(16, 8, generator=g).requires_grad_()
    all_keys = unit_rows(8, 8, generator=g).requires_grad_()
    for kwargs in ({}, {"all_keys": all_keys, "rank": 1}):
        loss = sce_loss(q, k, queue, **kwargs)
        loss.backward()
        assert q.grad is not None and q.grad.abs().sum() > 0
        assert k.grad is None and queue.grad is None and all_keys.grad is None
        q.grad = None


def test_inputs_are_not_modified() -> None:
    q, k, queue = _inputs(4, 8, 16, seed=2)
    copies = [t.detach().clone() for t in (q, k, queue)]
    sce_loss(q, k, queue, all_keys=k, rank=0).backward()
    for before, after in zip(copies, (q, k, queue), strict=True):
        assert torch.equal(before, after.detach())


def test_bf16_autocast_close_to_float32() -> None:
    q, k, queue = _inputs(16, 64, 256, seed=9, dtype=torch.float32)
    full = sce_loss(q, k, queue, temp_m=0.05)
    (full_grad,) = torch.autograd.grad(full, q)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = sce_loss(q, k, queue, temp_m=0.05)
    (low_grad,) = torch.autograd.grad(low, q)
    assert low.dtype == torch.float32 and torch.isfinite(low)
    assert abs(low.item() - full.item()) < 2e-2 * abs(full.item())
    assert low_grad.dtype == torch.float32
    assert F.cosine_similarity(low_grad.flatten(), full_grad.flatten(), dim=0) > 0.99


def test_batch_mean_is_mean_of_single_samples() -> None:
    q, k, queue = _inputs(6, 8, 12, seed=4)
    whole = sce_loss(q, k, queue)
    singles = torch.stack([sce_loss(q[i : i + 1], k[i : i + 1], queue) for i in range(6)])
    torch.testing.assert_close(whole, singles.mean())


BAD_INPUTS = [
    ("query and key must have the same shape", lambda q, k, Q: sce_loss(q, k[:, :4], Q)),
    ("queue must have one key per row with dimension D=8", lambda q, k, Q: sce_loss(q, k, Q[:, :4])),
    ("query must be 2-D", lambda q, k, Q: sce_loss(q[0], k, Q)),
    ("queue must be 2-D", lambda q, k, Q: sce_loss(q, k, Q.T[None])),
    ("query is empty", lambda q, k, Q: sce_loss(q[:0], k[:0], Q)),
    ("non-finite values (NaN or inf) in query", lambda q, k, Q: sce_loss(q * float("nan"), k, Q)),
    ("non-finite values (NaN or inf) in queue (16, 8)", lambda q, k, Q: sce_loss(q, k, Q / 0)),
    ("all_keys must hold B·W rows", lambda q, k, Q: sce_loss(q, k, Q, all_keys=Q[:5])),
    ("rank=2 is out of range", lambda q, k, Q: sce_loss(q, k, Q, all_keys=Q[:8], rank=2)),
    ("mask_positive_target=True needs a queue", lambda q, k, Q: sce_loss(q, k, None, mask_positive_target=True)),
    ("must be a floating-point tensor", lambda q, k, Q: sce_loss(q.long(), k.long(), Q)),
]


@pytest.mark.parametrize(("message", "call"), BAD_INPUTS, ids=[m for m, _ in BAD_INPUTS])
def test_bad_input_is_a_clear_value_error(message, call) -> None:
    q, k, queue = _inputs(4, 8, 16, seed=1, dtype=torch.float32)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        call(q.detach(), k, queue)
    assert "(" in str(info.value)  # every message names a shape or value


def test_non_finite_input_has_its_own_error_class() -> None:
    from sce_losses import NonFiniteInputError

    q, k, queue = _inputs(2, 4, 8, seed=1)
    with pytest.raises(NonFiniteInputError, match=r"key \(2, 4\)"):
        sce_loss(q, k * float("inf"), queue)


def test_all_shapes_named_in_mismatch_message() -> None:
    q, k, queue = _inputs(4, 8, 16, seed=1)
    with pytest.raises(ValueError, match=r"query \(4, 8\).*queue \(16, 3\)"):
        sce_loss(q, k, queue[:, :3])


@pytest.mark.parametrize(("coeff", "temp_m"), list(itertools.product([0.0, 0.5], [0.01, 0.05])))
def test_extreme_logits_stay_finite(coeff, temp_m) -> None:
    # Keys identical to the queue make τm-scaled logits large: the target must still be a distribution.
    q, k, _ = _inputs(4, 8, 0, seed=6)
    queue = torch.cat([k.detach(), -k.detach()] * 4)
    loss = sce_loss(q, k, queue, coeff=coeff, temp=0.05, temp_m=temp_m, all_keys=k, rank=0)
    want = reference_sce(q, k, queue, coeff, 0.05, temp_m, all_keys=k, rank=0)
    assert torch.isfinite(loss)
    torch.testing.assert_close(loss, want, rtol=1e-9, atol=1e-9)
