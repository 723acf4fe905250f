"""sce-losses and sce-backbones together, at their public APIs: one SCE step of a tiny learner (SPEC 2).

Online trunk + projector + predictor, a momentum copy of trunk + projector, ``SCELoss`` with its queue, the symmetric
two-view loss, one optimizer step, the EMA update and the enqueue of both views' keys.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sce_backbones import MomentumEncoder, Predictor, Projector, build_trunk, cosine_momentum
from sce_losses import SCELoss

BATCH, DIM, QUEUE = 4, 16, 32


@pytest.fixture
def step() -> dict:
    """One training step; returns what the tests compare, taken before and after each stage."""
    torch.manual_seed(0)
    trunk = build_trunk("resnet18", small_input=True)  # (B, 3, H, W) -> (B, 512)
    online = nn.Sequential(trunk, Projector(trunk.num_features, (32, 32), DIM))
    predictor = Predictor(DIM, 32, DIM)
    momentum = MomentumEncoder(online)
    criterion = SCELoss(dim=DIM, queue_size=QUEUE, coeff=0.5, temp=0.1, temp_m=0.05)
    optimizer = torch.optim.SGD([*online.parameters(), *predictor.parameters()], lr=0.5, momentum=0.9)

    copy = momentum.module.state_dict()
    initial_copy_equal = copy.keys() == online.state_dict().keys() and all(
        torch.equal(value, copy[name]) for name, value in online.state_dict().items()
    )
    x1, x2 = torch.rand(2, BATCH, 3, 16, 16)  # two views of the same 4 images
    q1, q2 = (F.normalize(predictor(online(x)), dim=1) for x in (x1, x2))
    k1, k2 = (F.normalize(momentum(x), dim=1) for x in (x1, x2))
    queue_before = criterion.queue.clone()
    pointer_before = int(criterion.queue_ptr)
    snapshot = criterion.queue_snapshot()

    loss = 0.5 * (criterion(q2, k1) + criterion(q1, k2))  # SPEC 2.4
    criterion.enqueue(k1)
    criterion.enqueue(k2)
    loss.backward()  # after enqueue: the forward used the snapshot
    online_before = {name: p.detach().clone() for name, p in online.named_parameters()}
    optimizer.step()

    momentum_before = {name: p.detach().clone() for name, p in momentum.module.named_parameters()}
    buffers_before = {name: b.clone() for name, b in momentum.module.named_buffers()}
    m = cosine_momentum(step=0, total_steps=10, base=0.99)
    momentum.update(online, m)
    return {
        "online": online,
        "predictor": predictor,
        "momentum": momentum,
        "criterion": criterion,
        "loss": loss,
        "keys": (k1, k2),
        "initial_copy_equal": initial_copy_equal,
        "queue_before": queue_before,
        "pointer_before": pointer_before,
        "snapshot": snapshot,
        "online_before": online_before,
        "momentum_before": momentum_before,
        "buffers_before": buffers_before,
        "m": m,
    }


def test_loss_is_finite_and_positive(step: dict) -> None:
    loss = step["loss"]
    assert loss.ndim == 0 and torch.isfinite(loss) and loss.item() > 0
    assert not step["keys"][0].requires_grad and not step["keys"][1].requires_grad


def test_only_online_parameters_get_gradients(step: dict) -> None:
    assert step["initial_copy_equal"]
    for module in (step["online"], step["predictor"]):
        grads = [p.grad for p in module.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert any(g.abs().sum() > 0 for g in grads)
    for p in step["momentum"].module.parameters():
        assert not p.requires_grad and p.grad is None
    criterion = step["criterion"]
    assert not criterion.queue.requires_grad and criterion.queue.grad is None
    assert list(criterion.parameters()) == []
    changed = [n for n, p in step["online"].named_parameters() if not torch.equal(p, step["online_before"][n])]
    assert changed  # the optimizer step moved the online network


def test_momentum_copy_follows_the_ema_rule(step: dict) -> None:
    m = step["m"]
    assert m == pytest.approx(0.99)
    online = dict(step["online"].named_parameters())
    moved = 0
    for name, p in step["momentum"].module.named_parameters():
        before = step["momentum_before"][name]
        torch.testing.assert_close(p, m * before + (1 - m) * online[name].detach(), rtol=1e-5, atol=1e-7)
        moved += not torch.equal(p, before)
    assert moved > 0
    for name, b in step["momentum"].module.named_buffers():  # EMA of parameters only (SPEC 2.1)
        assert torch.equal(b, step["buffers_before"][name]), name


def test_queue_pointer_advances_by_both_views(step: dict) -> None:
    criterion, (k1, k2) = step["criterion"], step["keys"]
    start = step["pointer_before"]
    assert int(criterion.queue_ptr) == (start + 2 * BATCH) % QUEUE
    torch.testing.assert_close(criterion.queue[start : start + BATCH], k1)  # view 1, then view 2 (SPEC 2.3)
    torch.testing.assert_close(criterion.queue[start + BATCH : start + 2 * BATCH], k2)
    untouched = torch.ones(QUEUE, dtype=torch.bool)
    untouched[start : start + 2 * BATCH] = False
    assert torch.equal(criterion.queue[untouched], step["queue_before"][untouched])
    assert step["snapshot"] is not None and torch.equal(step["snapshot"], step["queue_before"])
    assert not torch.equal(criterion.queue_snapshot(), step["snapshot"])  # a new snapshot after enqueue
