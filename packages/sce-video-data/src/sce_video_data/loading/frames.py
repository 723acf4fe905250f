"""Decoding the frames a plan needs on the CPU, each distinct frame once, into a buffer reused from sample to sample.

With libjpeg-turbo (``jpeg_decoder="simplejpeg"``, the ``turbo`` extra) every frame is decoded straight into its
row of the buffer with the GIL released; with torchvision's decoder each frame is decoded and copied there. Both give
the same pixels (:mod:`sce_video_data.codecs.jpeg`). A frame libjpeg-turbo is not given (CMYK or YCCK colour, a
damaged stream) is decoded by torchvision, whose result or error is the reference.

Before anything is decoded, the CRC-32 of every frame's bytes is checked against the index (the reader's
``verify_frames``, on by default): a damaged frame raises
:class:`~sce_video_data.shards.format.ShardDamageError` naming the shard file, the item and the frame, rather than
decoding into wrong pixels.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch

from sce_video_data.codecs.jpeg import decode_jpeg_frame, decode_jpeg_into, jpeg_tensor
from sce_video_data.shards.reader import ShardReader

__all__ = ["FrameBuffer", "decode_shard_frames"]


class FrameBuffer:
    """A growing uint8 buffer handed out as ``(n, H, W, 3)`` frames; reused, so no page is faulted in twice."""

    def __init__(self) -> None:
        self._memory = torch.empty(0, dtype=torch.uint8)

    def frames(self, count: int, height: int, width: int) -> torch.Tensor:
        """``(count, height, width, 3)`` uninitialised frames (valid until the next call)."""
        size = count * height * width * 3
        if self._memory.numel() < size:
            self._memory = torch.empty(size, dtype=torch.uint8)
        return self._memory[:size].view(count, height, width, 3)

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._memory = torch.empty(0, dtype=torch.uint8)


def _decode_one(data: Any, out: torch.Tensor, turbo: bool, where: str) -> None:
    """Decode one JPEG into ``out`` ``(H, W, 3)``: libjpeg-turbo straight in, else torchvision and a copy."""
    if turbo and decode_jpeg_into(data, out):
        return
    frame = decode_jpeg_frame(jpeg_tensor(data))
    if frame.shape != out.shape:
        raise ValueError(f"{where}: frame of shape {tuple(frame.shape)}, expected {tuple(out.shape)} (the index)")
    out.copy_(frame)


def decode_shard_frames(
    reader: ShardReader,
    items: Sequence[int],
    frame_ids: Sequence[Sequence[int]],
    sizes: Sequence[tuple[int, int]],
    buffer: FrameBuffer,
    turbo: bool,
) -> Iterator[torch.Tensor]:
    """For each ``k``, frames ``frame_ids[k]`` of item ``items[k]`` (of size ``sizes[k]``) decoded into ``buffer``.

    The bytes of every frame are looked up at once and, when ``reader.verify_frames`` (the default), checked
    against their CRC-32 (one ``zlib.crc32`` per frame on the memory map, compared with one vectorised lookup of
    ``frame_crc32``); the items are then decoded one after the other, each into the same reused buffer: consume each
    item's ``(n, H, W, 3)`` frames before asking for the next.

    Raises:
        ShardDamageError: A frame's bytes do not match their CRC-32 (before any frame is decoded).
    """
    data = reader.frame_arrays_many(items, frame_ids)
    k = 0
    for item, ids, (h, w) in zip(items, frame_ids, sizes, strict=True):
        frames = buffer.frames(len(ids), h, w)
        for j, frame_id in enumerate(ids):
            _decode_one(data[k], frames[j], turbo, f"{reader.path}: item {item}, frame {frame_id}")
            k += 1
        yield frames
