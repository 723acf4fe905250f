"""Batch buffers that are reused once nothing uses them any more, in DataLoader workers and in the main process.

Allocating a fresh buffer for every batch is what ``default_collate`` does, and it is expensive: every page of the
buffer is faulted in and zeroed, then freed when the batch is dropped. In a DataLoader worker the buffer is shared
memory, which costs about 0.6 ms per MB on our 2-core VM, more than some batches take to decode. FFCV avoids this with
buffers allocated once and reused; this module does the same inside a plain ``torch.utils.data.DataLoader``, with a
:class:`BufferRing` per process:

* **In a worker** (shared memory): a batch tensor is a view of one slot of the ring. The collated batch is a
  :class:`LentBatch`, a ``dict`` that the DataLoader's queue (torch's ``ForkingPickler``) sends to the main process,
  where it is rebuilt as a plain ``dict`` of tensor views of the slot. A slot's storage travels (as torch sends any
  shared storage: a file descriptor) with the first batch that uses it only; the main process keeps it mapped, so
  later batches of that slot carry a few bytes of metadata, and the main process does not map, fault in and unmap
  the memory again for every batch. Each time a batch arrives, the main process gives back every slot lent earlier
  that no tensor uses any more (torch's storage use count) by setting its flag in a small shared array; the worker
  gives a slot out again only when its flag is set *and* nothing in the worker uses it. A slot whose batch left the
  worker in any other way (the collated dict was edited, pickled twice, or not sent) is retired: dropped from the
  ring and never written again. The main process forgets the buffers of workers that have exited (a daemon thread
  checks every 2 s; a batch still in use keeps its own memory).
* **In the main process** (``num_workers=0``, private memory): a buffer is free again when no tensor uses it any more
  (torch's storage use count); one that was moved to shared memory (sent to another process) is retired.

So a buffer is never overwritten while anything in either process can still see it; the worst case is a fresh
allocation, never a wrong batch. Each ring keeps at most ``capacity`` buffers: the most ever in use at once plus one.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
import uuid
from multiprocessing.reduction import ForkingPickler
from typing import Any

import torch

__all__ = [
    "BufferRing",
    "LentBatch",
    "Slot",
    "labels_and_indices",
    "new_shared_storage",
    "process_ring",
    "release_batch_buffers",
    "reused_batch",
]

ALIGN = 64  # bytes; labels and indices follow the video at this alignment
LOCAL, SENT, RETIRED = "local", "sent", "retired"


def new_shared_storage(nbytes: int) -> torch.UntypedStorage:
    """An uninitialised shared-memory storage of ``nbytes`` bytes (torch's current sharing strategy)."""
    try:
        return torch.UntypedStorage._new_shared(nbytes)
    except AttributeError:  # pragma: no cover - a torch without the private helper
        return torch.UntypedStorage(nbytes).share_memory_()


def _unused(storage: torch.UntypedStorage) -> bool:
    """Whether only the ring holds ``storage``: no tensor uses its memory and no other code holds the object."""
    # the C++ use count counts tensors (and the one Python object); the Python count, that object's holders:
    # the ring's slot and this function's argument
    return int(torch._C._storage_Use_Count(storage._cdata)) == 1 and sys.getrefcount(storage) <= 3


class Slot:
    """One buffer of a ring.

    Attributes:
        index: Position in the ring (and in its ``flags``).
        storage: The buffer (held by the ring while the slot is in the ring).
        ring: The ring the slot belongs to.
        state: ``"local"`` (being filled, or waiting in the worker), ``"sent"`` (lent to the main process) or
            ``"retired"`` (left the worker another way; never reused).
    """

    def __init__(self, index: int, storage: torch.UntypedStorage, ring: BufferRing) -> None:
        self.index, self.storage, self.ring, self.state = index, storage, ring, LOCAL
        self.mapped = False  # the main process has received the storage (later batches omit it)

    @property
    def nbytes(self) -> int:
        """Size of the buffer in bytes."""
        return self.storage.nbytes()


class BufferRing:
    """Up to ``capacity`` reusable batch buffers of one process.

    Args:
        shared: Shared-memory buffers lent to the main process (a DataLoader worker), or private ones (the main
            process).
        capacity: Most buffers kept. A batch asked for while every buffer is in use gets a one-off buffer, as
            ``default_collate`` would; the number kept is the most ever in use at once plus one, at most ``capacity``.
    """

    def __init__(self, shared: bool, capacity: int = 8) -> None:
        if capacity < 1:
            raise ValueError(f"capacity: expected >= 1, got {capacity}")
        self.shared, self.capacity = shared, capacity
        self.flags: torch.Tensor | None = None  # shared: flags[k] is set by the main process when it freed slot k
        if shared:
            self.flags = torch.empty(0, dtype=torch.uint8).set_(new_shared_storage(capacity)).zero_()
        self.token = f"{os.getpid()}-{uuid.uuid4().hex}"  # names the ring's flags in the main process
        self.flags_sent = False  # the flags travel with the first batch only
        self.slots: list[Slot | None] = [None] * capacity
        self.allocations = 0  # buffers allocated so far (kept and one-off ones): what the tests measure

    def acquire(self, nbytes: int) -> tuple[torch.UntypedStorage, Slot | None]:
        """A buffer of at least ``nbytes`` bytes and its slot (``None`` for a one-off buffer outside the ring).

        A free buffer of a fitting size is reused (at most twice the size asked, so a small last batch does not keep
        a large buffer busy); otherwise a new buffer takes an empty place in the ring, or the place of a free buffer
        of another size.
        """
        free = self._free_slots()
        for slot in free:
            if nbytes <= slot.nbytes <= 2 * nbytes:
                return self._lend(slot), slot
        empty = [k for k, slot in enumerate(self.slots) if slot is None]
        index = empty[0] if empty else (free[0].index if free else None)
        self.allocations += 1
        storage = new_shared_storage(nbytes) if self.shared else torch.UntypedStorage(nbytes)
        if index is None:
            return storage, None
        slot = Slot(index, storage, self)
        self.slots[index] = slot
        return self._lend(slot), slot

    def _lend(self, slot: Slot) -> torch.UntypedStorage:
        slot.state = LOCAL
        if self.flags is not None:
            self.flags[slot.index] = 0
        return slot.storage

    def _free_slots(self) -> list[Slot]:
        """Slots that nothing uses any more; retires those whose memory another process may still see."""
        free = []
        for k, slot in enumerate(self.slots):
            # use count first: once it is 1, the queue's feeder thread has finished pickling (and set the state)
            if slot is None or not _unused(slot.storage):
                continue
            if self.flags is None:
                if slot.storage.is_shared():  # moved to shared memory: sent to another process
                    self.slots[k] = None
                else:
                    free.append(slot)
            elif slot.state == SENT and int(self.flags[k]) == 1:
                free.append(slot)
            elif slot.state != SENT:  # filled but never lent (or retired): who else has seen it is unknown
                self.slots[k] = None
        return free

    def kept(self) -> int:
        """Number of buffers in the ring."""
        return sum(slot is not None for slot in self.slots)

    def release(self) -> None:
        """Drop every buffer (those still in use are freed when their last tensor is)."""
        self.slots = [None] * self.capacity


_RINGS: dict[tuple[int, bool], BufferRing] = {}


def process_ring(shared: bool) -> BufferRing:
    """This process's shared or private ring (made on first use; a forked child gets its own)."""
    pid = os.getpid()
    if any(owner != pid for owner, _ in _RINGS):  # a forked child: the parent's buffers are not its own
        _RINGS.clear()
    if (pid, shared) not in _RINGS:
        _RINGS[(pid, shared)] = BufferRing(shared)
    return _RINGS[(pid, shared)]


def release_batch_buffers() -> None:
    """Drop the batch buffers this process keeps for reuse (e.g. after the last epoch with ``num_workers=0``)."""
    for ring in _RINGS.values():
        ring.release()


def tensor_in(storage: torch.UntypedStorage, shape: tuple[int, ...], dtype: torch.dtype, offset: int) -> torch.Tensor:
    """A contiguous ``shape`` tensor of ``dtype`` at byte ``offset`` of ``storage``."""
    size = torch.empty(0, dtype=dtype).element_size()
    if offset % size:
        raise ValueError(f"offset {offset} is not a multiple of the {dtype} element size {size}")
    strides = [1] * len(shape)
    for k in range(len(shape) - 2, -1, -1):
        strides[k] = strides[k + 1] * shape[k + 1]
    return torch.empty(0, dtype=dtype).set_(storage, offset // size, shape, strides)


def tail_offset(shape: tuple[int, ...], dtype: torch.dtype) -> int:
    """Byte offset, after a ``shape`` tensor of ``dtype`` at offset 0, where the labels and indices start."""
    nbytes = math.prod(shape) * torch.empty(0, dtype=dtype).element_size()
    return -(-nbytes // ALIGN) * ALIGN


def reused_batch(shape: tuple[int, ...], dtype: torch.dtype, shared: bool) -> tuple[torch.Tensor, Slot | None]:
    """A ``shape`` tensor, followed by room for ``shape[0]`` labels and indices (int64) when ``shared``.

    The memory comes from this process's shared or private ring (its slot is returned), or is a one-off buffer
    (slot ``None``) when every buffer of the ring is in use.
    """
    extra = 2 * 8 * shape[0] if shared else 0
    storage, slot = process_ring(shared).acquire(tail_offset(shape, dtype) + extra)
    return tensor_in(storage, shape, dtype, 0), slot


def labels_and_indices(video: torch.Tensor, labels: list[int], indices: list[int]) -> tuple[torch.Tensor, ...]:
    """``labels`` and ``indices`` written as int64 tensors in the room :func:`reused_batch` left after ``video``."""
    offset, count = tail_offset(tuple(video.shape), video.dtype), len(labels)
    storage = video.untyped_storage()
    both = tensor_in(storage, (2, count), torch.int64, offset)
    both.copy_(torch.tensor([labels, indices], dtype=torch.int64).view(2, count))
    return both[0], both[1]


class LentBatch(dict[str, Any]):
    """A collated batch ``{"video", "label", "index"}`` whose tensors are views of one ring slot.

    Sent to the main process by a DataLoader worker, it arrives as a plain ``dict`` of tensors sharing the slot's
    memory, and the slot is given back when the main process has freed all of them. Pickled any other way, or edited
    before being sent, it is a plain ``dict`` and its slot is retired.
    """

    __slots__ = ("_slot", "_original")

    def __init__(self, slot: Slot, video: torch.Tensor, label: torch.Tensor, index: torch.Tensor) -> None:
        super().__init__(video=video, label=label, index=index)
        self._slot, self._original = slot, (video, label, index)

    def unchanged(self) -> bool:
        """Whether the dict still holds exactly the tensors it was made with."""
        return len(self) == 3 and all(
            self.get(key) is value for key, value in zip(("video", "label", "index"), self._original, strict=True)
        )

    def __reduce__(self) -> tuple[type, tuple[dict[str, Any]]]:
        return dict, (dict(self),)


def _reduce_lent_batch(batch: LentBatch) -> tuple[Any, tuple[Any, ...]]:
    """How the DataLoader's queue pickles a :class:`LentBatch` (once: a second send retires the slot).

    A slot's storage (and the ring's flags) travel with the first batch that uses them only: the main process keeps
    them mapped (:class:`_ReceivedRing`), so later batches of the slot are a few bytes of metadata.
    """
    slot = batch._slot
    if slot.state != LOCAL or not batch.unchanged():
        slot.state = RETIRED
        return dict, (dict(batch),)
    slot.state = SENT
    ring = slot.ring
    assert ring.flags is not None
    flags = None if ring.flags_sent else ring.flags.untyped_storage()
    storage = None if slot.mapped else slot.storage
    ring.flags_sent = slot.mapped = True
    meta = [(t.dtype, tuple(t.shape), t.storage_offset() * t.element_size()) for t in batch._original]
    return _rebuild_lent_batch, (ring.token, flags, slot.index, storage, meta)


class _ReceivedRing:
    """In the main process: the flags and slot storages received from one worker ring, and the slots lent now."""

    def __init__(self, flags: torch.Tensor) -> None:
        self.flags = flags
        self.storages: dict[int, torch.UntypedStorage] = {}
        self.lent: set[int] = set()

    def give_back_unused(self) -> None:
        """Set the flag of every lent slot that no tensor of this process uses any more."""
        for index in [k for k in self.lent if _unused(self.storages[k])]:
            self.lent.discard(index)
            self.flags[index] = 1


#: In the main process: each worker ring it has received batches from, by ring token.
_RECEIVED: dict[str, _ReceivedRing] = {}
_RECEIVED_LOCK = threading.Lock()
_SWEEPER: list[threading.Thread] = []


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - alive, owned by someone else
        return True
    return True


def _forget_exited_workers() -> None:
    """Drop the buffers of rings whose worker has exited (a batch still in use stays valid: it holds its storage)."""
    with _RECEIVED_LOCK:
        for token in [t for t in _RECEIVED if not _process_alive(int(t.split("-")[0]))]:
            del _RECEIVED[token]


def _sweep_forever(period: float) -> None:
    while True:
        time.sleep(period)
        _forget_exited_workers()


def _received_ring(token: str, flags: torch.UntypedStorage | None) -> _ReceivedRing:
    """The ring ``token`` (registered when its flags arrive, with a sweep of the rings of exited workers)."""
    if flags is not None:
        _forget_exited_workers()
        with _RECEIVED_LOCK:
            _RECEIVED[token] = _ReceivedRing(torch.empty(0, dtype=torch.uint8).set_(flags))
            if not _SWEEPER:  # after the last epoch, nothing else would free the buffers of exited workers
                _SWEEPER.append(threading.Thread(target=_sweep_forever, args=(2.0,), daemon=True, name="sce-buffers"))
                _SWEEPER[0].start()
    if token not in _RECEIVED:
        raise RuntimeError(
            f"a batch of worker buffer ring {token} arrived before the ring's first batch: the first batch of a "
            "DataLoader worker must reach this process (do not pickle collated batches inside a worker)"
        )
    return _RECEIVED[token]


def _rebuild_lent_batch(
    token: str,
    flags: torch.UntypedStorage | None,
    index: int,
    storage: torch.UntypedStorage | None,
    meta: list[tuple[torch.dtype, tuple[int, ...], int]],
) -> dict[str, torch.Tensor]:
    """In the main process: the batch as a plain dict of views of its slot's storage (kept mapped for reuse).

    Slots lent earlier whose tensors have all been freed are given back first.
    """
    ring = _received_ring(token, flags)
    with _RECEIVED_LOCK:
        if storage is not None:  # a new buffer in that place of the ring (the worker retired the one before)
            ring.lent.discard(index)
            ring.storages[index] = storage
        elif index not in ring.storages:
            raise RuntimeError(f"worker buffer {index} of ring {token} was never received by this process")
        ring.give_back_unused()
        ring.lent.add(index)
        storage = ring.storages[index]
        video, label, indices = (tensor_in(storage, shape, dtype, offset) for dtype, shape, offset in meta)
    return {"video": video, "label": label, "index": indices}


def received_buffers() -> int:
    """Number of worker batch buffers this (main) process keeps mapped."""
    with _RECEIVED_LOCK:
        return sum(len(ring.storages) for ring in _RECEIVED.values())


ForkingPickler.register(LentBatch, _reduce_lent_batch)
