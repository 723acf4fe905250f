"""World-size invariance: 2 gloo processes with half the batch each behave as 1 process with the whole batch."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from losses_dist_worker import make_criterion, run_step, scenario_inputs, worker

from sce_losses import gather, is_distributed, rank, world_size


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_process_results(tmp_path_factory) -> list[dict[str, torch.Tensor]]:
    out = tmp_path_factory.mktemp("dist")
    mp.spawn(worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    return [torch.load(Path(out) / f"rank{r}.pt") for r in range(2)]


def _single_process(use_keys: bool) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    inputs = scenario_inputs()
    criterion = make_criterion(use_keys)
    results = {}
    for step in range(3):
        q = torch.nn.functional.normalize(inputs["q"] * (1 + 0.1 * step), dim=-1)
        results[f"loss_{step}"], results[f"grad_{step}"] = run_step(criterion, q, inputs["k"])
    return results, criterion.queue, criterion.queue_ptr


@pytest.mark.parametrize("use_keys", [False, True])
def test_two_processes_match_one(two_process_results, use_keys) -> None:
    single, queue, ptr = _single_process(use_keys)
    for step in range(3):
        mean_loss = sum(r[f"loss_{use_keys}_{step}"] for r in two_process_results) / 2
        torch.testing.assert_close(mean_loss, single[f"loss_{step}"], rtol=1e-12, atol=1e-12)
        # DDP averages gradients over processes: each rank's gradient / 2 is the single-process gradient's slice.
        grads = torch.cat([r[f"grad_{use_keys}_{step}"] for r in two_process_results], dim=1) / 2
        torch.testing.assert_close(grads, single[f"grad_{step}"], rtol=1e-10, atol=1e-12)
    for r in two_process_results:
        torch.testing.assert_close(r[f"queue_{use_keys}"], queue, rtol=0, atol=0)
        assert int(r[f"ptr_{use_keys}"]) == int(ptr) == (3 * 2 * 8) % 64


def test_use_keys_changes_the_loss(two_process_results) -> None:
    # Guards against a worker that silently ignores use_keys (the other keys of the global batch are negatives).
    r = two_process_results[0]
    assert not torch.allclose(r["loss_False_0"], r["loss_True_0"])


def test_gather_is_rank_ordered_with_summed_gradients(two_process_results) -> None:
    x = torch.arange(12, dtype=torch.float64).reshape(4, 3) + 1
    for r in two_process_results:
        torch.testing.assert_close(r["gathered"], x)
    # loss_r = Σ_i i·y_i² / W on each rank; the adjoint sums both ranks: d/dx = 2·i·x on x's own rows.
    expected = 2 * torch.arange(1, 5, dtype=torch.float64)[:, None] * x
    grads = torch.cat([r["gather_grad"] for r in two_process_results])
    torch.testing.assert_close(grads, expected)


def test_not_distributed_is_identity() -> None:
    x = torch.randn(3, 2)
    assert gather(x) is x
    assert not is_distributed() and world_size() == 1 and rank() == 0
