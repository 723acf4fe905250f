"""Reused batch buffers (sce_video_data.batch_buffers): reused once free, never overwritten while still visible."""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, default_collate, get_worker_info

from sce_video_data import ShardVideoDataset, batch_buffers
from sce_video_data.batch_buffers import BufferRing, LentBatch, Slot, process_ring, release_batch_buffers
from sce_video_data.synthetic import write_index_shards

pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")

BATCH = 3


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 items of 32x24 frames."""
    return write_index_shards(tmp_path_factory.mktemp("buffers") / "s", 12, frames=(30, 12), items_per_shard=6)


@pytest.fixture(autouse=True)
def _no_kept_buffers() -> None:
    """Each test starts with an empty ring in this process (the main process's ring outlives a test)."""
    release_batch_buffers()


class Counting(ShardVideoDataset):
    """Writes, after each batch, how many buffers this process's ring allocated for the loader and how many it keeps.

    The file is ``allocations-<pid>``; allocations are counted from the first batch the process makes.
    """

    def __init__(self, path: Path, report: Path) -> None:
        super().__init__(path, frames=4, num_clips=2, sampling="uniform", clips_per_video=2)
        self.report, self.base = report, dict[int, int]()

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        ring = process_ring(shared=get_worker_info() is not None)
        base = self.base.setdefault(os.getpid(), ring.allocations)
        samples = super().__getitems__(indices)
        (self.report / f"allocations-{os.getpid()}").write_text(f"{ring.allocations - base} {ring.kept()}")
        return samples


def _allocations(report: Path) -> list[tuple[int, int]]:
    return [tuple(map(int, p.read_text().split())) for p in sorted(report.glob("allocations-*"))]  # type: ignore[misc]


def _expected(dataset: ShardVideoDataset, order: Sequence[int]) -> list[dict[str, Any]]:
    return [default_collate([dataset[i] for i in order[k : k + BATCH]]) for k in range(0, len(order), BATCH)]


def _same(got: dict[str, Any], expected: dict[str, Any]) -> bool:
    return all(torch.equal(got[key], expected[key]) for key in ("video", "label", "index"))


ORDER = [k % 12 for k in range(60)]  # 20 batches


@pytest.mark.parametrize("workers", [0, 1])
def test_dropped_batches_are_reused(shards: Path, tmp_path: Path, workers: int) -> None:
    dataset = Counting(shards, tmp_path)
    expected = _expected(dataset, ORDER)
    release_batch_buffers()  # the buffers of the expected items
    loader = DataLoader(dataset, batch_size=BATCH, sampler=ORDER, num_workers=workers)
    for got, want in zip(loader, expected, strict=True):
        assert _same(got, want)
    ((allocations, kept),) = _allocations(tmp_path)
    # 20 batches: with workers, 2 in the queue + 1 held + 1 being filled; in the main process, 1 held + 1 filled
    assert allocations <= (5 if workers else 3) and kept == allocations, allocations


@pytest.mark.parametrize("workers", [0, 1])
def test_held_batches_are_never_overwritten(shards: Path, tmp_path: Path, workers: int) -> None:
    dataset = Counting(shards, tmp_path)
    expected = _expected(dataset, ORDER)
    release_batch_buffers()
    held = list(DataLoader(dataset, batch_size=BATCH, sampler=ORDER, num_workers=workers))
    # every batch is alive at once: the ring must allocate instead of reusing
    for got, want in zip(held, expected, strict=True):
        assert _same(got, want)
    ((allocations, kept),) = _allocations(tmp_path)
    assert allocations == len(held) == 20 and kept == 8  # 8 kept in the ring, the others one-off buffers


def test_views_keep_a_batch_from_being_reused(shards: Path, tmp_path: Path) -> None:
    """Only a slice of each batch is kept (the batch dict itself is dropped): the slices must stay intact."""
    dataset = Counting(shards, tmp_path)
    loader = DataLoader(dataset, batch_size=BATCH, sampler=ORDER, num_workers=1)
    slices = [(batch["video"][1], batch["label"][1:], batch["index"][:1]) for batch in loader]
    for (video, label, index), want in zip(slices, _expected(dataset, ORDER), strict=True):
        assert torch.equal(video, want["video"][1]) and torch.equal(label, want["label"][1:])
        assert torch.equal(index, want["index"][:1])


def _edit_collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    batch = default_collate(samples)
    batch["clips"] = batch["video"][:, :1]  # a second view of the buffer under another key
    return batch


def test_an_edited_batch_retires_its_buffer(shards: Path, tmp_path: Path) -> None:
    dataset = Counting(shards, tmp_path)
    loader = DataLoader(dataset, batch_size=BATCH, sampler=ORDER, num_workers=1, collate_fn=_edit_collate)
    held = list(loader)
    for got, want in zip(held, _expected(dataset, ORDER), strict=True):
        assert type(got) is dict and _same(got, want) and torch.equal(got["clips"], want["video"][:, :1])
    ((allocations, _),) = _allocations(tmp_path)
    assert allocations == 20


def _take(ring: BufferRing, nbytes: int) -> tuple[torch.Tensor, Slot | None]:
    """A uint8 tensor over a buffer of the ring (what a batch is), without keeping the storage object."""
    storage, slot = ring.acquire(nbytes)
    return torch.empty(0, dtype=torch.uint8).set_(storage), slot


def test_private_ring_reuses_only_free_buffers() -> None:
    ring = BufferRing(shared=False, capacity=2)
    a, slot_a = _take(ring, 1000)
    assert slot_a is not None and a.numel() == 1000
    view = a[10:20]
    del a
    b, slot_b = _take(ring, 1000)
    assert slot_b is not None and slot_b is not slot_a  # ``a`` is still used by ``view``
    del view
    c, slot_c = _take(ring, 900)  # fits in a free buffer of at most twice the size
    assert slot_c is slot_a and ring.allocations == 2
    d, slot_d = _take(ring, 1000)  # both kept buffers in use: a one-off buffer
    assert slot_d is None and ring.allocations == 3 and ring.kept() == 2
    del b
    e, slot_e = _take(ring, 4000)  # another size takes the place of the free buffer, never of one in use
    assert e.numel() == 4000 and slot_e is not None and slot_e.index == slot_b.index and ring.kept() == 2
    assert ring.slots[slot_a.index] is slot_a and c.numel() == 1000 and d.numel() == 1000
    storage = c.untyped_storage()  # only the storage object is kept, no tensor
    del c, e
    _, slot_f = _take(ring, 1000)
    assert slot_f is not slot_a and ring.allocations == 5
    del storage
    _, slot_g = _take(ring, 1000)
    assert slot_g is slot_a and ring.allocations == 5
    with pytest.raises(ValueError, match="capacity"):
        BufferRing(shared=False, capacity=0)


def test_private_buffer_moved_to_shared_memory_is_retired() -> None:
    ring = BufferRing(shared=False, capacity=2)
    tensor, _ = _take(ring, 64)
    tensor.share_memory_()  # what sending it to another process does
    del tensor
    _take(ring, 64)
    assert ring.allocations == 2


def test_shared_slot_is_reused_only_after_the_main_process_gives_it_back() -> None:
    ring = BufferRing(shared=True, capacity=2)
    tensor, first = _take(ring, 256)
    assert first is not None and tensor.is_shared()
    del tensor
    tensor, slot = _take(ring, 256)  # the first was filled but never sent: retired (who saw it is unknown)
    assert ring.allocations == 2 and slot is not None and slot is not first and first not in ring.slots
    assert slot is not None
    slot.state = "sent"
    del tensor
    _take(ring, 256)
    assert ring.allocations == 3  # sent, not given back: kept but not reused
    assert ring.flags is not None
    ring.flags[slot.index] = 1  # what the main process's finaliser does
    _, again = _take(ring, 256)
    assert ring.allocations == 3 and again is slot


def test_lent_batch_pickles_as_a_plain_dict_and_twice_retires(shards: Path) -> None:
    dataset = ShardVideoDataset(shards, frames=4, sampling="uniform", clips_per_video=2)
    batch = default_collate(dataset._samples([0, 1, 2], shared=True))
    assert isinstance(batch, LentBatch)
    clone = pickle.loads(pickle.dumps(batch))  # an ordinary pickle copies the data, slot untouched
    assert type(clone) is dict and _same(clone, default_collate([dataset[i] for i in (0, 1, 2)]))
    slot = batch._slot
    assert slot.state == "local"
    ForkingPickler.dumps(batch)
    assert slot.state == "sent"
    ForkingPickler.dumps(batch)  # a second send would give the main process two unrelated copies of one slot
    assert slot.state == "retired"


def test_release_drops_kept_buffers(shards: Path) -> None:
    dataset = ShardVideoDataset(shards, frames=4, sampling="uniform", clips_per_video=2)
    default_collate(dataset.__getitems__([0, 1, 2]))
    assert process_ring(shared=False).kept() >= 1
    release_batch_buffers()
    assert process_ring(shared=False).kept() == 0


@pytest.fixture
def file_system_sharing() -> Any:
    """torch's other sharing strategy (shared memory files by name), restored afterwards."""
    previous = torch.multiprocessing.get_sharing_strategy()
    torch.multiprocessing.set_sharing_strategy("file_system")
    yield
    torch.multiprocessing.set_sharing_strategy(previous)


def test_file_system_sharing_strategy(shards: Path, tmp_path: Path, file_system_sharing: Any) -> None:
    dataset = Counting(shards, tmp_path)
    expected = _expected(dataset, ORDER)
    held = list(DataLoader(dataset, batch_size=BATCH, sampler=ORDER[:30], num_workers=1))
    assert all(_same(got, want) for got, want in zip(held, expected, strict=False)) and len(held) == 10
    del held
    for report in tmp_path.glob("allocations-*"):
        report.unlink()
    for got, want in zip(DataLoader(dataset, batch_size=BATCH, sampler=ORDER, num_workers=1), expected, strict=True):
        assert _same(got, want)
    ((allocations, _),) = _allocations(tmp_path)
    assert allocations <= 5


def test_main_process_keeps_worker_buffers_mapped_until_the_worker_exits(shards: Path, tmp_path: Path) -> None:
    dataset = Counting(shards, tmp_path)
    expected = _expected(dataset, ORDER)
    before = set(batch_buffers._RECEIVED)
    loader = DataLoader(dataset, batch_size=BATCH, sampler=ORDER, num_workers=1)
    storages = set()
    for got, want in zip(loader, expected, strict=True):
        assert _same(got, want)
        storages.add(got["video"].untyped_storage().data_ptr())
    (token,) = set(batch_buffers._RECEIVED) - before  # one worker, one ring
    ((allocations, _),) = _allocations(tmp_path)
    # 20 batches through the same few mappings: each buffer is mapped once by this process, not once per batch
    assert len(storages) == allocations <= 5 and len(batch_buffers._RECEIVED[token].storages) == allocations
    del loader
    batch_buffers._forget_exited_workers()
    assert token not in batch_buffers._RECEIVED


def test_a_batch_of_an_unknown_ring_is_refused() -> None:
    with pytest.raises(RuntimeError, match="first batch"):
        batch_buffers._rebuild_lent_batch("999999999-x", None, 0, None, [])
