from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from sce_video_data.loading.sampler import ResumableDistributedSampler


def _ranks(n: int, world: int, epoch: int, **kwargs: object) -> list[list[int]]:
    out = []
    for rank in range(world):
        sampler = ResumableDistributedSampler(n, num_replicas=world, rank=rank, **kwargs)  # type: ignore[arg-type]
        sampler.set_epoch(epoch)
        out.append(list(sampler))
    return out


def test_disjoint_and_complete_with_drop_last() -> None:
    parts = _ranks(11, 3, epoch=0, seed=5)
    assert [len(p) for p in parts] == [3, 3, 3]
    flat = [i for p in parts for i in p]
    assert len(set(flat)) == 9 and set(flat) <= set(range(11))
    order = torch.randperm(11, generator=torch.Generator().manual_seed(5)).tolist()[:9]
    assert parts == [order[0::3], order[1::3], order[2::3]]


def test_padding_without_drop_last_covers_everything() -> None:
    parts = _ranks(10, 3, epoch=2, seed=0, drop_last=False)
    assert [len(p) for p in parts] == [4, 4, 4]
    assert set(i for p in parts for i in p) == set(range(10))


def test_same_order_for_same_seed_and_epoch() -> None:
    assert _ranks(50, 2, epoch=4, seed=7) == _ranks(50, 2, epoch=4, seed=7)
    assert _ranks(50, 2, epoch=4, seed=7) != _ranks(50, 2, epoch=5, seed=7)
    assert _ranks(50, 2, epoch=4, seed=7) != _ranks(50, 2, epoch=4, seed=8)
    generator = torch.Generator().manual_seed(7 + 4)
    order = torch.randperm(50, generator=generator).tolist()
    assert _ranks(50, 2, epoch=4, seed=7)[1] == order[1::2]
    assert _ranks(6, 2, epoch=0, shuffle=False)[0] == [0, 2, 4]


def test_mid_epoch_resume_neither_repeats_nor_skips() -> None:
    sampler = ResumableDistributedSampler(40, num_replicas=2, rank=1, seed=3)
    sampler.set_epoch(6)
    full = list(sampler)
    iterator = iter(sampler)
    seen = [next(iterator) for _ in range(7)]
    state = sampler.state_dict()
    assert state["epoch"] == 6 and state["consumed"] == 7
    assert sampler.state_dict(consumed=5)["consumed"] == 5
    resumed = ResumableDistributedSampler(40, num_replicas=2, rank=1, seed=3)
    resumed.load_state_dict(state)
    assert len(resumed) == 13
    rest = list(resumed)
    assert seen + rest == full
    resumed.set_epoch(7)
    assert len(list(resumed)) == 20  # the next epoch starts from its beginning
    with pytest.raises(ValueError, match="seed"):
        ResumableDistributedSampler(40, num_replicas=2, rank=1, seed=4).load_state_dict(state)
    with pytest.raises(ValueError, match="rank"):
        ResumableDistributedSampler(40, num_replicas=2, rank=2)


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    sampler = ResumableDistributedSampler(23, seed=11)  # rank and world size from torch.distributed
    sampler.set_epoch(1)
    mine = torch.tensor(list(sampler))
    gathered = [torch.zeros_like(mine) for _ in range(world)]
    dist.all_gather(gathered, mine)
    if rank == 0:
        torch.save([g.tolist() for g in gathered], out)
    dist.destroy_process_group()


def test_two_processes_get_disjoint_shards(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = str(tmp_path / "gathered.pt")
    mp.spawn(_worker, args=(2, port, out), nprocs=2, join=True)
    parts = torch.load(out)
    assert [len(p) for p in parts] == [11, 11]
    assert not set(parts[0]) & set(parts[1])
    assert parts == _ranks(23, 2, epoch=1, seed=11)
