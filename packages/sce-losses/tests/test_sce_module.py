from __future__ import annotations

import pytest
import torch
from losses_reference import unit_rows

from sce_losses import SCELoss, sce_loss


def test_queue_starts_with_random_unit_rows_as_buffers() -> None:
    torch.manual_seed(0)
    criterion = SCELoss(16, 64)
    assert criterion.queue.shape == (64, 16)
    torch.testing.assert_close(criterion.queue.norm(dim=1), torch.ones(64))
    assert criterion.queue.std() > 0.1  # not a constant
    state = criterion.state_dict()
    assert set(state) == {"queue", "queue_ptr"} and int(state["queue_ptr"]) == 0
    assert not any(p.requires_grad for p in criterion.parameters())


def test_enqueue_is_fifo_and_wraps_around() -> None:
    criterion = SCELoss(4, 12)
    batches = [torch.full((4, 4), float(i)) for i in range(1, 5)]
    for b in batches[:3]:
        criterion.enqueue(b)
    assert int(criterion.queue_ptr) == 0
    assert torch.equal(criterion.queue[:, 0], torch.tensor([1.0] * 4 + [2.0] * 4 + [3.0] * 4))
    criterion.enqueue(batches[3])  # overwrites the oldest keys
    assert int(criterion.queue_ptr) == 4
    assert torch.equal(criterion.queue[:, 0], torch.tensor([4.0] * 4 + [2.0] * 4 + [3.0] * 4))


def test_batch_that_does_not_divide_the_queue_is_an_error() -> None:
    criterion = SCELoss(4, 10)
    with pytest.raises(ValueError, match=r"queue size 10 must be a multiple of .*\(4 = 4 per process"):
        criterion.enqueue(torch.randn(4, 4))
    assert int(criterion.queue_ptr) == 0  # nothing was written


def test_enqueue_rejects_wrong_dimension() -> None:
    with pytest.raises(ValueError, match=r"dimension 4 like the queue, got keys \(2, 3\)"):
        SCELoss(4, 8).enqueue(torch.randn(2, 3))


def test_forward_equals_function_on_the_queue() -> None:
    g = torch.Generator().manual_seed(3)
    q, k = unit_rows(2, 8, 16, generator=g, dtype=torch.float32)
    criterion = SCELoss(16, 32, coeff=0.3, temp=0.2, temp_m=0.05)
    expected = sce_loss(q, k, criterion.queue.clone(), coeff=0.3, temp=0.2, temp_m=0.05)
    torch.testing.assert_close(criterion(q, k), expected)


def test_snapshot_makes_enqueue_before_backward_safe() -> None:
    g = torch.Generator().manual_seed(4)
    q0, k0 = unit_rows(2, 8, 16, generator=g, dtype=torch.float64)
    criterion = SCELoss(16, 32).double()
    reference = SCELoss(16, 32).double()
    reference.load_state_dict(criterion.state_dict())

    q = q0.clone().requires_grad_()
    loss = criterion(q, k0)
    criterion.enqueue(k0)  # the authors enqueue after the losses and before backward
    loss.backward()

    q_ref = q0.clone().requires_grad_()
    reference(q_ref, k0).backward()
    torch.testing.assert_close(q.grad, q_ref.grad)
    # The next forward sees the new keys.
    assert not torch.allclose(criterion(q0, k0), reference(q0, k0))


def test_snapshot_is_taken_once_per_step() -> None:
    criterion = SCELoss(8, 16)
    first = criterion.queue_snapshot()
    assert criterion.queue_snapshot() is first
    criterion.enqueue(torch.randn(8, 8))
    assert criterion.queue_snapshot() is not first
    state = {k: v.clone() for k, v in criterion.state_dict().items()}
    current = criterion.queue_snapshot()
    state["queue"].zero_()
    criterion.load_state_dict(state)  # loading a checkpoint must refresh the snapshot too
    assert criterion.queue_snapshot() is not current
    assert torch.equal(criterion.queue_snapshot(), torch.zeros(16, 8))


def test_use_keys_single_process_uses_own_keys_as_extra_negatives() -> None:
    g = torch.Generator().manual_seed(5)
    q, k = unit_rows(2, 4, 8, generator=g, dtype=torch.float64)
    criterion = SCELoss(8, 16, use_keys=True).double()
    expected = sce_loss(q, k, criterion.queue.clone(), all_keys=k, rank=0)
    torch.testing.assert_close(criterion(q, k), expected)


def test_zero_queue_size_means_no_queue() -> None:
    g = torch.Generator().manual_seed(6)
    q, k = unit_rows(2, 4, 8, generator=g, dtype=torch.float64)
    criterion = SCELoss(8, 0, use_keys=True).double()
    criterion.enqueue(k)
    torch.testing.assert_close(criterion(q, k), sce_loss(q, k, None, all_keys=k))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dim": 0, "queue_size": 8}, "dim must be positive"),
        ({"dim": 4, "queue_size": -1}, "queue_size must be >= 0"),
        ({"dim": 4, "queue_size": 8, "temp": 0.0}, "temperatures must be positive"),
    ],
)
def test_bad_construction(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        SCELoss(**kwargs)
