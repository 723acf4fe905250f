from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sce_backbones import MomentumEncoder, Predictor, Projector, build_trunk, cosine_momentum, ema_update


def _toy() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def test_momentum_copy_starts_exact_and_frozen() -> None:
    online = _toy()
    online(torch.randn(5, 3))  # move BN buffers away from their defaults
    momentum = MomentumEncoder(online)
    for (name, a), (_, b) in zip(online.state_dict().items(), momentum.module.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
        assert a.data_ptr() != b.data_ptr()
    assert all(not p.requires_grad for p in momentum.parameters())
    assert all(p.requires_grad for p in online.parameters())


def test_ema_math_on_toy_model() -> None:
    online = _toy()
    momentum = MomentumEncoder(online)
    with torch.no_grad():
        for p in online.parameters():
            p.add_(torch.randn_like(p))
    old = {k: v.clone() for k, v in momentum.module.named_parameters()}
    new = dict(online.named_parameters())
    buffers_before = {k: v.clone() for k, v in momentum.module.named_buffers()}
    with torch.no_grad():
        online[1].running_mean.fill_(5.0)  # buffers of the source must not leak into the target
    momentum.update(online, 0.9)
    for name, param in momentum.module.named_parameters():
        torch.testing.assert_close(param, 0.9 * old[name] + 0.1 * new[name], rtol=1e-6, atol=1e-7)
    for name, buf in momentum.module.named_buffers():
        assert torch.equal(buf, buffers_before[name]), name


def test_ema_endpoints() -> None:
    online, target = _toy(), _toy()
    with torch.no_grad():
        for p in target.parameters():
            p.mul_(3)
    before = {k: v.clone() for k, v in target.named_parameters()}
    ema_update(target, online, 1.0)
    assert all(torch.equal(p, before[k]) for k, p in target.named_parameters())
    ema_update(target, online, 0.0)
    assert all(torch.equal(p, q) for p, q in zip(target.parameters(), online.parameters(), strict=True))


def test_ema_rejects_mismatched_modules_and_bad_momentum() -> None:
    with pytest.raises(ValueError, match="momentum must be in"):
        ema_update(_toy(), _toy(), 1.5)
    with pytest.raises(ValueError, match="target parameter '0.weight'"):
        ema_update(nn.Sequential(nn.Linear(3, 5)), nn.Sequential(nn.Linear(3, 4)), 0.5)
    with pytest.raises(ValueError, match="source parameters absent from target"):
        ema_update(nn.Sequential(nn.Linear(3, 4)), _toy(), 0.5)


def test_cosine_momentum_schedule() -> None:
    total = 1001
    assert cosine_momentum(0, total) == 0.99
    assert cosine_momentum(total - 1, total) == 1.0
    assert cosine_momentum(500, total) == pytest.approx(0.995, abs=1e-12)
    assert cosine_momentum(250, total, base=0.9) == pytest.approx(1 - 0.1 * (math.cos(math.pi / 4) + 1) / 2, abs=1e-12)
    values = [cosine_momentum(t, total) for t in range(total)]
    assert all(a <= b for a, b in zip(values, values[1:], strict=False))
    assert cosine_momentum(0, 1, base=0.99) == 0.99


@pytest.mark.parametrize(
    ("args", "match"),
    [((5, 5), r"step must be in \[0, 5\)"), ((-1, 5), "step"), ((0, 0), "total_steps"), ((0, 5, 1.2), "base")],
)
def test_cosine_momentum_rejects_bad_input(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        cosine_momentum(*args)


@pytest.mark.parametrize(("name", "shape"), [("resnet18", (4, 3, 16, 16)), ("r3d18", (4, 3, 2, 32, 32))])
def test_gradients_reach_online_trunk_and_heads_not_momentum_copy(name: str, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    trunk = build_trunk(name)
    projector, predictor = Projector(512, (32, 32), 16), Predictor(16, 32, 16)
    online_encoder = nn.Sequential(trunk, projector)
    momentum = MomentumEncoder(online_encoder)
    x = torch.randn(shape)
    q = nn.functional.normalize(predictor(online_encoder(x)), dim=1)
    k = nn.functional.normalize(momentum(x), dim=1)
    assert not k.requires_grad and k.grad_fn is None
    loss = -(q * k).sum(dim=1).mean()
    loss.backward()
    for module in (trunk, projector, predictor):
        assert all(p.grad is not None for p in module.parameters())
    first = next(trunk.parameters())  # the stem conv
    assert first.grad.abs().sum() > 0 and predictor[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in momentum.parameters())
    # After an optimizer step, the EMA moves the copy towards the online weights by exactly (1 - m).
    copy_first = next(momentum.module.parameters())
    before = copy_first.clone()
    with torch.no_grad():
        first.sub_(0.1 * first.grad)
    momentum.update(online_encoder, 0.99)
    torch.testing.assert_close(copy_first, 0.99 * before + 0.01 * first)
