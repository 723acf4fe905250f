"""SyncBatchNorm on CPU: 2 gloo processes with parts of a batch behave as one BatchNorm over the whole batch."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from backbones_sync_bn_worker import CASES, SPLIT, case_inputs, make_bn, run_steps, worker
from torch import nn

from sce_backbones import SyncBatchNorm, build_trunk, convert_sync_batchnorm


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_process_results(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, torch.Tensor]]:
    out = tmp_path_factory.mktemp("sync_bn")
    mp.spawn(worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    return [torch.load(Path(out) / f"rank{r}.pt") for r in range(2)]


@pytest.mark.parametrize("name", list(CASES))
def test_two_processes_match_one_batch_norm(two_process_results, name: str) -> None:
    x, w = case_inputs(name)
    single = run_steps(make_bn(name), x, w)
    r0, r1 = (r for r in two_process_results)
    for step in range(2):
        for key in (f"y{step}", f"xgrad{step}"):
            torch.testing.assert_close(
                torch.cat([r0[f"{name}.{key}"], r1[f"{name}.{key}"]]), single[key], rtol=1e-4, atol=1e-5
            )
        if f"wgrad{step}" in single:  # DDP sums (then averages) parameter gradients over processes
            for key in (f"wgrad{step}", f"bgrad{step}"):
                torch.testing.assert_close(r0[f"{name}.{key}"] + r1[f"{name}.{key}"], single[key], rtol=1e-4, atol=1e-4)
    for r in (r0, r1):
        for key in ("running_mean", "running_var", "num_batches_tracked"):
            torch.testing.assert_close(r[f"{name}.{key}"], single[key], rtol=1e-5, atol=1e-6)
    bn = make_bn(name)
    run_steps(bn, x, w)
    bn.eval()
    with torch.no_grad():
        expected_eval = bn(x)
    torch.testing.assert_close(torch.cat([r0[f"{name}.eval"], r1[f"{name}.eval"]]), expected_eval)


def test_sync_differs_from_local_statistics(two_process_results) -> None:
    """Guards against a worker that silently normalises locally: per-process BN gives other outputs."""
    x, w = case_inputs("bn1d")
    local = run_steps(make_bn("bn1d"), x[: SPLIT[0]], w[: SPLIT[0]])
    assert not torch.allclose(two_process_results[0]["bn1d.y0"], local["y0"], atol=1e-3)


def test_conversion_covers_1d_2d_3d_and_shares_tensors() -> None:
    trunk = build_trunk("r3d18")
    head = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.BatchNorm1d(4, affine=False))
    model = nn.ModuleDict({"trunk": trunk, "head": head, "image": nn.BatchNorm2d(3), "torch_sync": nn.SyncBatchNorm(2)})
    model["head"].eval()
    keys_before = {k: v for k, v in model.state_dict().items()}
    n_bn = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    converted = convert_sync_batchnorm(model)
    assert converted is model
    syncs = [m for m in model.modules() if isinstance(m, SyncBatchNorm)]
    assert len(syncs) == n_bn == 20 + 2 + 1 + 1
    assert not any(type(m) in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d) for m in model.modules())
    after = model.state_dict()
    assert list(after) == list(keys_before)
    assert all(after[k].data_ptr() == v.data_ptr() for k, v in keys_before.items())  # the same tensors
    assert not model["head"][1].training and model["image"].training
    assert model["trunk"].blocks[1].res_blocks[0].branch2.norm_b.block_final_bn
    assert isinstance(convert_sync_batchnorm(nn.BatchNorm3d(2)), SyncBatchNorm)


def test_without_process_group_it_is_plain_batch_norm() -> None:
    torch.manual_seed(0)
    for name in CASES:
        x, w = case_inputs(name)
        expected = run_steps(make_bn(name), x, w)
        got = run_steps(convert_sync_batchnorm(make_bn(name)), x, w)
        for key, value in expected.items():
            torch.testing.assert_close(got[key], value, msg=f"{name}.{key}")
