"""Samples decoded straight into their batch, and the collate step that recognises them (no second copy).

:meth:`ShardVideoDataset.__getitems__ <sce_video_data.datasets.ShardVideoDataset.__getitems__>` writes the clips of a
whole batch into one preallocated ``(B, ...)`` tensor (a buffer that is reused once nothing uses it any more, in
shared memory inside a DataLoader worker: :mod:`sce_video_data.batch_buffers`) and returns one :class:`BatchSample`
per index: a plain ``dict`` whose ``"video"`` is a view of that tensor. :func:`collate_batch_samples` is registered
for :class:`BatchSample` in torch's ``default_collate_fn_map`` (the extension point torch documents for
``default_collate``), so a DataLoader with the default collate returns the preallocated tensor itself when it receives
exactly the samples of one such batch, in order and unmodified. Anything else (a subset, another order, edited
samples, a second collate of the same list) is collated like plain dicts, so the result is always what collating the
samples as dicts would give.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils.data._utils.collate import collate, default_collate_fn_map

from sce_video_data.batch_buffers import LentBatch, Slot, labels_and_indices, reused_batch
from sce_video_data.jpeg_decoders import DirectDecoder

__all__ = ["BatchBuilder", "BatchSample", "BatchSamples", "collate_batch_samples"]


class BatchSamples:
    """The already-collated form of one batch: ``video`` holds every sample's video, in order.

    The samples refer to their batch but the batch does not refer to them (no reference cycle: the batch tensor is
    freed as soon as the last sample or collated result is dropped, not at the next garbage collection).

    Attributes:
        video: The ``(B, ...)`` tensor the samples' videos are views of.
        labels: Labels, in order.
        indices: Dataset indices, in order.
        shared: Whether ``video`` is in shared memory made by
            :func:`~sce_video_data.batch_buffers.reused_batch` (in a DataLoader worker), with room for the labels.
        slot: The reusable buffer ``video`` lives in (None: a one-off buffer), see :mod:`sce_video_data.batch_buffers`.
        used: Set once the batch has been handed out by :func:`collate_batch_samples` (a second collate copies).
    """

    def __init__(
        self,
        video: torch.Tensor,
        labels: list[int],
        indices: list[int],
        shared: bool = False,
        slot: Slot | None = None,
    ) -> None:
        self.video, self.labels, self.indices, self.shared, self.slot = video, labels, indices, shared, slot
        self.used = False

    def samples(self) -> list[BatchSample]:
        """One :class:`BatchSample` per position."""
        return [BatchSample(self, k) for k in range(len(self.indices))]

    def is_exactly(self, batch: Sequence[Any]) -> bool:
        """Whether ``batch`` is this batch's samples, all of them, in order, with their original values."""
        if self.used or len(batch) != len(self.indices):
            return False
        return all(
            isinstance(given, BatchSample) and given.batch is self and given.position == k and given.unchanged()
            for k, given in enumerate(batch)
        )

    def collated(self) -> dict[str, torch.Tensor]:
        """``{"video": (B, ...), "label": int64 (B,), "index": int64 (B,)}`` (equal to ``default_collate``).

        In a worker, labels and indices are written after the video in its shared buffer, so the batch crosses to the
        main process as one shared-memory handle; a batch from the worker's ring is a
        :class:`~sce_video_data.batch_buffers.LentBatch`, whose buffer the worker reuses once the main process has
        freed it.
        """
        self.used = True
        if not self.shared:
            return {"video": self.video, "label": torch.tensor(self.labels), "index": torch.tensor(self.indices)}
        label, index = labels_and_indices(self.video, self.labels, self.indices)
        if self.slot is None:
            return {"video": self.video, "label": label, "index": index}
        return LentBatch(self.slot, self.video, label, index)


class BatchSample(dict[str, Any]):
    """One sample ``{"video", "label", "index"}`` of a :class:`BatchSamples` (a ``dict``; pickles as a plain one)."""

    __slots__ = ("_batch", "_position", "_video")

    def __init__(self, batch: BatchSamples, position: int) -> None:
        self._batch, self._position, self._video = batch, position, batch.video[position]
        super().__init__(video=self._video, label=batch.labels[position], index=batch.indices[position])

    @property
    def batch(self) -> BatchSamples:
        """The batch this sample belongs to."""
        return self._batch

    @property
    def position(self) -> int:
        """The sample's row in the batch."""
        return self._position

    def unchanged(self) -> bool:
        """Whether the sample still holds exactly the values it was made with."""
        k, batch = self._position, self._batch
        return (
            len(self) == 3
            and self.get("label") == batch.labels[k]
            and self.get("index") == batch.indices[k]
            and self.get("video") is self._video
        )

    def __reduce__(self) -> tuple[type, tuple[dict[str, Any]]]:
        return dict, (dict(self),)


class BatchBuilder:
    """Writes the videos of ``size`` samples, one after the other, into one lazily allocated batch tensor.

    Each :meth:`add` stacks one sample's parts (its frames, or its clips' transform outputs) straight into the next
    row of the ``(size, *inner, *part shape)`` tensor: one copy per part. The first sample fixes the shape; a sample
    that does not match (frames of another size) switches the builder to separate tensors for that sample and the
    following ones, which :meth:`samples` then returns as plain dicts (what ``dataset[i]`` gives).

    Args:
        size: Number of samples.
        shared: Allocate the batch in shared memory (inside a DataLoader worker).
    """

    def __init__(self, size: int, shared: bool) -> None:
        self.size, self.shared = size, shared
        self.batch: torch.Tensor | None = None
        self.slot: Slot | None = None
        self.videos: list[torch.Tensor] = []
        self.separate = False

    def add(self, parts: list[Any], inner: tuple[int, ...]) -> None:
        """Append one sample made of ``parts`` (equally shaped tensors) stacked and viewed as ``inner + part shape``."""
        if not self.separate and self._fits(parts, inner):
            row = self._batch_for(parts[0], inner)[len(self.videos)]
            torch.stack(parts, out=row.view(len(parts), *parts[0].shape))
            self.videos.append(row)
            return
        self.separate = True
        video = torch.stack(parts)
        self.videos.append(video.reshape(*inner, *video.shape[1:]))

    def add_decoded(
        self,
        data: Sequence[Any],
        positions: list[int],
        inner: tuple[int, ...],
        decode: Callable[[torch.Tensor], torch.Tensor],
        direct: DirectDecoder | None = None,
    ) -> None:
        """Append one sample whose frame ``k`` is ``decode(data[positions[k]])``, each datum decoded once.

        With a ``direct`` decoder, the first datum's header gives the frame shape, and each datum is decoded straight
        into its first place in the sample's row of the batch; if any datum cannot be (another size, another colour
        space, a damaged stream), the whole sample is decoded again the plain way. The plain way: ``decode`` each
        datum and copy the frame at once (while still in cache) into its places in the row. Either way, repeated
        frames are copied; a frame that does not fit the batch switches to :meth:`add`'s separate tensors.
        """
        places: list[list[int]] = [[] for _ in data]
        for k, position in enumerate(positions):
            places[position].append(k)
        if direct is not None and self._add_direct(data, places, inner, len(positions), direct):
            return
        if direct is not None:
            data = [direct.tensor(datum) for datum in data]
        frames: list[torch.Tensor] = []
        row: torch.Tensor | None = None
        for j, (datum, where) in enumerate(zip(data, places, strict=True)):
            frame = decode(datum)
            frames.append(frame)
            if j == 0:
                row = self._row_for(tuple(frame.shape), frame.dtype, frame.device, inner, len(positions))
            elif row is not None and (frame.shape != row.shape[1:] or frame.dtype != row.dtype):
                row = None  # frames of different sizes in one sample: separate tensors, as dataset[i] gives
            if row is not None:
                for k in where:
                    row[k].copy_(frame)
        if row is not None:
            self.videos.append(self.batch[len(self.videos)])  # type: ignore[index]
            return
        self.add([frames[p] for p in positions], inner)

    def _add_direct(
        self, data: Sequence[Any], places: list[list[int]], inner: tuple[int, ...], count: int, direct: DirectDecoder
    ) -> bool:
        """Decode every datum straight into its first place in the next row; False when some datum could not be."""
        shape = direct.shape(data[0]) if data else None
        row = None if shape is None else self._row_for(shape, torch.uint8, torch.device("cpu"), inner, count)
        if row is None:
            return False
        frames = row.numpy()
        for datum, where in zip(data, places, strict=True):
            first = frames[where[0]]
            if not direct.decode(datum, first):
                return False
            for k in where[1:]:
                frames[k] = first
        self.videos.append(self.batch[len(self.videos)])  # type: ignore[index]
        return True

    def _row_for(
        self, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device, inner: tuple[int, ...], count: int
    ) -> torch.Tensor | None:
        """The next row as ``(count, *shape)`` frames of ``dtype`` on ``device``, or None when they do not fit."""
        if self.separate or math.prod(inner) != count:
            return None
        if self.batch is None:
            self._allocate((self.size, *inner, *shape), dtype, device)
        elif (
            self.batch.dtype != dtype or self.batch.device != device or tuple(self.batch.shape[1:]) != (*inner, *shape)
        ):
            return None
        return self.batch[len(self.videos)].view(count, *shape)  # type: ignore[index]

    def _fits(self, parts: list[Any], inner: tuple[int, ...]) -> bool:
        """Whether ``parts`` are tensors that fill one row of the batch (as the first sample's parts did)."""
        if not parts or math.prod(inner) != len(parts) or not all(isinstance(p, torch.Tensor) for p in parts):
            return False
        ref = parts[0] if self.batch is None else self.batch
        shape = tuple(ref.shape) if self.batch is None else tuple(ref.shape[1 + len(inner) :])
        if self.batch is not None and tuple(self.batch.shape[1 : 1 + len(inner)]) != inner:
            return False
        return all(tuple(p.shape) == shape and p.dtype == ref.dtype and p.device == ref.device for p in parts)

    def _batch_for(self, part: torch.Tensor, inner: tuple[int, ...]) -> torch.Tensor:
        """The batch tensor, allocated on first use with the shape, dtype and device of ``part``."""
        if self.batch is None:
            self._allocate((self.size, *inner, *part.shape), part.dtype, part.device)
        return self.batch  # type: ignore[return-value]

    def _allocate(self, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> None:
        """The batch tensor: a reused buffer on the CPU (shared memory in a worker), a fresh tensor elsewhere."""
        if device.type == "cpu":
            self.batch, self.slot = reused_batch(shape, dtype, self.shared)
        else:
            self.batch = torch.empty(shape, dtype=dtype, device=device)

    def samples(self, labels: list[int], indices: list[int]) -> list[dict[str, Any]]:
        """The samples ``{"video", "label", "index"}``: :class:`BatchSample` views of one batch when possible."""
        if len(self.videos) != self.size or len(labels) != self.size or len(indices) != self.size:
            raise ValueError(f"expected {self.size} samples, labels and indices")
        if not self.separate and self.batch is not None:
            shared = self.shared and self.batch.device.type == "cpu"
            return list(BatchSamples(self.batch, labels, indices, shared, self.slot).samples())
        return [
            {"video": video, "label": label, "index": index}
            for video, label, index in zip(self.videos, labels, indices, strict=True)
        ]


def collate_batch_samples(batch: Sequence[Any], *, collate_fn_map: dict[Any, Any] | None = None) -> Any:
    """Collate :class:`BatchSample` dicts: the preallocated batch when ``batch`` is one whole batch, else as dicts."""
    first = batch[0]
    if isinstance(first, BatchSample) and first.batch.is_exactly(batch):
        return first.batch.collated()
    plain = [dict(sample) if isinstance(sample, BatchSample) else sample for sample in batch]
    return collate(plain, collate_fn_map=collate_fn_map)


default_collate_fn_map[BatchSample] = collate_batch_samples
