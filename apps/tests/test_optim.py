from __future__ import annotations

import math

import pytest
import torch

from sce_apps.optim import LARS, scaled_lr, warmup_cosine_lr


def test_lars_step_matches_hand_computation() -> None:
    weight = torch.nn.Parameter(torch.tensor([[3.0, 4.0]]))  # ‖p‖ = 5
    bias = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    weight.grad = torch.tensor([[0.0, 1.0]])
    bias.grad = torch.tensor([0.5, 0.5])
    opt = LARS([weight, bias], lr=0.1, momentum=0.9, weight_decay=0.01, trust_coefficient=1e-3)
    opt.step()
    d = torch.tensor([[0.03, 1.04]])  # grad + wd·p
    d = d * (1e-3 * 5.0 / d.norm())
    torch.testing.assert_close(weight.detach(), torch.tensor([[3.0, 4.0]]) - 0.1 * d)
    torch.testing.assert_close(bias.detach(), torch.tensor([1.0, -1.0]) - 0.1 * torch.tensor([0.5, 0.5]))  # no wd/trust
    # Second step: μ ← 0.9 μ + d (heavy ball, no dampening).
    w1 = weight.detach().clone()
    opt.step()
    d2 = weight.grad + 0.01 * w1
    d2 = d2 * (1e-3 * w1.norm() / d2.norm())
    torch.testing.assert_close(weight.detach(), w1 - 0.1 * (0.9 * d + d2))


def test_lars_zero_norm_falls_back_to_ratio_one() -> None:
    weight = torch.nn.Parameter(torch.zeros(2, 2))
    weight.grad = torch.ones(2, 2)
    LARS([weight], lr=1.0, momentum=0.0, trust_coefficient=1e-3).step()
    torch.testing.assert_close(weight.detach(), -torch.ones(2, 2))


def test_lars_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="momentum must be in"):
        LARS([torch.nn.Parameter(torch.ones(1))], lr=0.1, momentum=1.5)


def test_scaled_lr_matches_spec() -> None:
    assert scaled_lr(2.4, 512) == pytest.approx(4.8)  # video (SPEC 4.4)
    assert scaled_lr(0.3, 4096) == pytest.approx(4.8)  # ImageNet 200+ epochs (SPEC 3.4)
    assert scaled_lr(0.6, 4096) == pytest.approx(9.6)  # ImageNet 100 epochs


def test_warmup_cosine_closed_form() -> None:
    base, warmup, total = 4.8, 10, 50
    assert warmup_cosine_lr(0, base, warmup, total) == 0.0  # the very first step uses LR 0
    assert warmup_cosine_lr(5, base, warmup, total) == pytest.approx(base * 5 / 9)
    assert warmup_cosine_lr(9, base, warmup, total) == pytest.approx(base)
    assert warmup_cosine_lr(10, base, warmup, total) == pytest.approx(base)
    assert warmup_cosine_lr(30, base, warmup, total) == pytest.approx(base * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert warmup_cosine_lr(49, base, warmup, total) == pytest.approx(base * 0.5 * (1 + math.cos(math.pi * 39 / 40)))
    assert warmup_cosine_lr(50, base, warmup, total) == pytest.approx(0.0, abs=1e-12)
    assert warmup_cosine_lr(3, base, 0, total) == pytest.approx(base * 0.5 * (1 + math.cos(math.pi * 3 / 50)))
    with pytest.raises(ValueError, match="warmup_steps <= total_steps"):
        warmup_cosine_lr(0, base, 60, total)
