from __future__ import annotations

import pytest
import torch
from torch import nn

from sce_backbones import Predictor, Projector


def _layers(module: nn.Module) -> list[str]:
    out = []
    for m in module:
        if isinstance(m, nn.Linear):
            out.append(f"L{m.in_features}->{m.out_features}")
        elif isinstance(m, nn.BatchNorm1d):
            out.append(f"BN{m.num_features}{'' if m.affine else '(no affine)'}")
        elif isinstance(m, nn.ReLU):
            out.append("ReLU")
    return out


@pytest.mark.parametrize(
    ("in_dim", "hidden", "expected"),
    [
        (
            512,
            1024,
            ["L512->1024", "BN1024", "ReLU", "L1024->1024", "BN1024", "ReLU", "L1024->256", "BN256(no affine)"],
        ),
        (
            2048,
            4096,
            ["L2048->4096", "BN4096", "ReLU", "L4096->4096", "BN4096", "ReLU", "L4096->256", "BN256(no affine)"],
        ),
    ],
)
def test_projector_matches_spec_2_2(in_dim: int, hidden: int, expected: list[str]) -> None:
    projector = Projector(in_dim, hidden_dims=(hidden, hidden), out_dim=256)
    assert _layers(projector) == expected
    assert all(m.bias is None for m in projector if isinstance(m, nn.Linear))
    last = projector[-1]
    assert isinstance(last, nn.BatchNorm1d) and last.weight is None and last.bias is None
    assert (
        sum(p.numel() for p in projector.parameters()) == in_dim * hidden + hidden * hidden + hidden * 256 + 4 * hidden
    )


def test_projector_default_is_r3d18_size() -> None:
    assert _layers(Projector(512)) == _layers(Projector(512, (1024, 1024), 256))


@pytest.mark.parametrize("hidden", [1024, 4096])
def test_predictor_matches_spec_2_2(hidden: int) -> None:
    predictor = Predictor(256, hidden, 256)
    assert _layers(predictor) == [f"L256->{hidden}", f"BN{hidden}", "ReLU", f"L{hidden}->256"]
    assert all(m.bias is None for m in predictor if isinstance(m, nn.Linear))
    assert isinstance(predictor[-1], nn.Linear)  # no output BN
    assert sum(p.numel() for p in predictor.parameters()) == 256 * hidden * 2 + 2 * hidden


def test_projector_output_is_normalised_by_the_last_bn() -> None:
    torch.manual_seed(0)
    projector = Projector(16, (32, 32), 8).train()
    z = projector(torch.randn(64, 16) * 5 + 3)
    torch.testing.assert_close(z.mean(0), torch.zeros(8), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.var(0, unbiased=False), torch.ones(8), atol=1e-3, rtol=0)


def test_predictor_forward_shape() -> None:
    assert Predictor(8, 16, 4)(torch.randn(3, 8)).shape == (3, 4)


@pytest.mark.parametrize(
    ("cls", "kwargs", "field"),
    [
        (Projector, {"in_dim": 0}, "in_dim"),
        (Projector, {"in_dim": 4, "hidden_dims": (4, -1)}, r"hidden_dims\[1\]"),
        (Predictor, {"hidden_dim": 2.5}, "hidden_dim"),
        (Predictor, {"out_dim": True}, "out_dim"),
    ],
)
def test_bad_sizes_are_clear_errors(cls, kwargs, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        cls(**kwargs)
