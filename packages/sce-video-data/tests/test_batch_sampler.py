"""ResumableBatchSampler: global batches cut into per-process slices, per-sample seeds, mid-epoch resume."""

from __future__ import annotations

import pytest
import torch

from sce_video_data import BatchRequest, ResumableBatchSampler
from sce_video_data.loading.batch_sampler import sample_seed


def _run(rows: int | list[int], batch: int, world: int, epoch: int = 0, **kwargs: object) -> list[list[BatchRequest]]:
    """The requests of every rank in one epoch."""
    out = []
    for rank in range(world):
        sampler = ResumableBatchSampler(rows, batch, num_replicas=world, rank=rank, **kwargs)  # type: ignore[arg-type]
        sampler.set_epoch(epoch)
        out.append(list(sampler))
    return out


def test_global_batches_are_cut_into_contiguous_slices() -> None:
    ranks = _run(10, 2, 2, shuffle=False)
    assert [[r.indices for r in rank] for rank in ranks] == [[(0, 1), (4, 5)], [(2, 3), (6, 7)]]
    assert [[r.positions for r in rank] for rank in ranks] == [[(0, 1), (4, 5)], [(2, 3), (6, 7)]]
    shuffled = _run(10, 2, 2, epoch=3, seed=4)
    order = torch.randperm(10, generator=torch.Generator().manual_seed(4 + 3)).tolist()
    assert [[r.indices for r in rank] for rank in shuffled] == [
        [tuple(order[0:2]), tuple(order[4:6])],
        [tuple(order[2:4]), tuple(order[6:8])],
    ]
    assert all(r.seed == 4 and r.epoch == 3 for rank in shuffled for r in rank)
    assert [r.positions for r in shuffled[1]] == [(2, 3), (6, 7)]  # positions in the epoch order, not rows


def test_ranks_are_disjoint_and_complete() -> None:
    kept = _run(23, 3, 3, seed=9)  # global batch 9: two whole batches, 5 rows dropped
    assert [len(rank) for rank in kept] == [2, 2, 2]
    positions = sorted(p for rank in kept for r in rank for p in r.positions)
    assert positions == list(range(18))
    rows = [i for rank in kept for r in rank for i in r.indices]
    assert len(set(rows)) == 18 and set(rows) <= set(range(23))
    every = _run(23, 3, 3, seed=9, drop_last=False)
    assert sorted(i for rank in every for r in rank for i in r.indices) == list(range(23))
    assert sorted(p for rank in every for r in rank for p in r.positions) == list(range(23))


def test_without_drop_last_the_last_batch_is_cut_short_and_empty_slices_are_skipped() -> None:
    ranks = _run(23, 3, 3, drop_last=False, shuffle=False)
    # the third global batch holds rows 18..22: rank 0 gets 3, rank 1 gets 2, rank 2 none
    assert [[r.indices for r in rank][2:] for rank in ranks] == [[(18, 19, 20)], [(21, 22)], []]
    assert [len(rank) for rank in ranks] == [3, 3, 2]
    samplers = [ResumableBatchSampler(23, 3, num_replicas=3, rank=k, drop_last=False) for k in range(3)]
    assert [len(s) for s in samplers] == [3, 3, 2] and samplers[0].batches_per_epoch == 3
    assert [len(r) for r in _run(10, 4, 1, drop_last=False)[0]] == [4, 4, 2]
    assert [len(r) for r in _run(10, 4, 1)[0]] == [4, 4]
    with pytest.raises(ValueError, match="cannot fill one global batch"):
        ResumableBatchSampler(7, 2, num_replicas=4, rank=0)
    assert len(ResumableBatchSampler(7, 2, num_replicas=4, rank=3, drop_last=False)) == 1  # rows 6 only


def test_rows_can_be_a_subset() -> None:
    rows = [5, 9, 2, 7, 11, 3]
    assert [r.indices for r in _run(rows, 2, 1, shuffle=False)[0]] == [(5, 9), (2, 7), (11, 3)]
    shuffled = _run(rows, 3, 2, epoch=1, seed=2)
    order = [rows[k] for k in torch.randperm(6, generator=torch.Generator().manual_seed(3)).tolist()]
    assert [r.indices for rank in shuffled for r in rank] == [tuple(order[:3]), tuple(order[3:])]
    assert [r.positions for rank in shuffled for r in rank] == [(0, 1, 2), (3, 4, 5)]


def test_same_order_for_the_same_seed_and_epoch() -> None:
    first = _run(40, 4, 2, epoch=5, seed=7)
    assert first == _run(40, 4, 2, epoch=5, seed=7)
    assert [r.indices for r in first[0]] != [r.indices for r in _run(40, 4, 2, epoch=6, seed=7)[0]]
    assert [r.indices for r in first[0]] != [r.indices for r in _run(40, 4, 2, epoch=5, seed=8)[0]]
    sampler = ResumableBatchSampler(40, 4, num_replicas=2, rank=0, seed=7)
    sampler.set_epoch(5)
    assert sampler.order(5) == torch.randperm(40, generator=torch.Generator().manual_seed(12)).tolist()
    assert list(sampler) == first[0] == list(sampler)  # iterating again gives the epoch again


def test_sample_seeds_are_distinct_and_deterministic() -> None:
    seeds = [sample_seed(0, 0, p) for p in range(2000)]
    assert len(set(seeds)) == 2000 and all(0 <= s < 2**63 for s in seeds)
    assert seeds[:3] == [sample_seed(0, 0, p) for p in range(3)]
    assert len({sample_seed(0, 1, 0), sample_seed(1, 0, 0), sample_seed(0, 0, 1), sample_seed(0, 0, 0)}) == 4
    request = BatchRequest((4, 1), (10, 11), seed=3, epoch=2)
    draws = [torch.rand(3, generator=g) for g in request.generators()]
    assert torch.equal(draws[0], torch.rand(3, generator=torch.Generator().manual_seed(sample_seed(3, 2, 10))))
    assert not torch.equal(draws[0], draws[1])  # neighbouring positions: different random choices
    assert len(request) == 2


def test_len_before_and_after_resume() -> None:
    sampler = ResumableBatchSampler(20, 2, num_replicas=2, rank=1, seed=1)  # global batch 4: 5 batches
    sampler.set_epoch(2)
    full = list(sampler)
    assert len(sampler) == len(full) == 5
    it = iter(sampler)
    seen = [next(it), next(it)]
    state = sampler.state_dict()
    assert state == {"epoch": 2, "batches_done": 2, "seed": 1, "rows": 20, "global_batch": 4}
    assert sampler.state_dict(batches_done=1)["batches_done"] == 1
    resumed = ResumableBatchSampler(20, 2, num_replicas=2, rank=1, seed=1)
    resumed.load_state_dict(state)
    assert resumed.epoch == 2 and len(resumed) == 3
    rest = list(resumed)
    assert seen + rest == full
    assert len(resumed) == 5  # the resumed epoch is over: the next pass is whole
    resumed.load_state_dict(state)
    resumed.set_epoch(3)  # another epoch starts from its beginning
    assert len(resumed) == 5 and len(list(resumed)) == 5
    ragged = ResumableBatchSampler(23, 3, num_replicas=3, rank=2, drop_last=False)  # empty last slice
    ragged.load_state_dict({"epoch": 0, "batches_done": 1, "seed": 0, "rows": 23, "global_batch": 9})
    assert len(ragged) == 1 and len(list(ragged)) == 1


def test_bad_states_and_arguments_are_refused() -> None:
    state = {"epoch": 0, "batches_done": 1, "seed": 0, "rows": 20, "global_batch": 4}
    with pytest.raises(ValueError, match="seed=0 does not match this sampler's 1"):
        ResumableBatchSampler(20, 4, seed=1).load_state_dict(state)
    with pytest.raises(ValueError, match="rows=20 does not match this sampler's 21"):
        ResumableBatchSampler(21, 4).load_state_dict(state)
    with pytest.raises(ValueError, match=r"batches_done=6 outside \[0, 5\]"):
        ResumableBatchSampler(20, 4).load_state_dict(state | {"batches_done": 6})
    with pytest.raises(ValueError, match="rank"):
        ResumableBatchSampler(20, 4, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="batch_size"):
        ResumableBatchSampler(20, 0)
