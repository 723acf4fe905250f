"""Batch-native datasets: ``dataset[BatchRequest]`` is a whole batch, planned first, then decoded into place.

:class:`PlannedDataset` is the base of the shard and video-file datasets. Given a
:class:`~sce_video_data.loading.batch_sampler.BatchRequest` it draws every sample's plan from the sample's own
generator (seeded from the sampler's seed, the epoch and the sample's position), decodes exactly the frames the
plans name, and writes each view straight into its batch tensor. The result is a plain dict of tensors, which the
DataLoader (``batch_size=None``) passes through unchanged. With ``decode_device="cuda"`` the dataset returns a
:class:`PendingBatch` (the JPEG bytes and the plans) that :meth:`PendingBatch.finish` decodes in the main process on
the GPU, with the same plans and the same assembly code.

An integer index still gives one sample (``{"video", "label", "index"}``), drawn from torch's global generator.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset

from sce_video_data.codecs.jpeg import decode_jpegs
from sce_video_data.loading.assemble import ViewBatch, allocate_views, fill_sample
from sce_video_data.loading.batch_sampler import BatchRequest
from sce_video_data.loading.plans import SamplePlan

__all__ = ["BatchLayout", "PendingBatch", "PlannedDataset", "finish_batch"]


@dataclass(frozen=True)
class BatchLayout:
    """How a dataset presents the views of its batches.

    Attributes:
        key: ``"video"`` or ``"image"``.
        frames: Frames per clip (1 for images).
        multi_view: The transform gives several views (a ``MultiCrop``).
    """

    key: str
    frames: int
    multi_view: bool

    def present(self, views: list[ViewBatch], combined: torch.Tensor | None) -> Any:
        """The batch's ``video`` / ``image`` entry.

        Videos: ``(B, clips, T, h, w, 3)``; several views of one size ``(B, clips, views, T, h, w, 3)``, else a list
        per view. Images: ``(B, h, w, 3)``, a list per view for several views.
        """
        if self.key == "image":
            images = [v[:, 0, 0] if isinstance(v, torch.Tensor) else [s[0, 0] for s in v] for v in views]
            return images if self.multi_view else images[0]
        if not self.multi_view:
            return views[0]
        return combined if combined is not None else views


def _assemble(
    layout: BatchLayout,
    plans: Sequence[SamplePlan],
    decoded: Iterable[torch.Tensor | Sequence[torch.Tensor]],
    device: torch.device,
) -> dict[str, Any]:
    """Fill the batch of ``plans`` from each sample's decoded frames (``frames_needed`` order)."""
    views, combined = allocate_views(plans, layout.frames, device)
    for row, (plan, frames) in enumerate(zip(plans, decoded, strict=True)):
        fill_sample(frames, plan.frames_needed(), plan, views, row)
    return {
        layout.key: layout.present(views, combined),
        "label": torch.tensor([p.label for p in plans], dtype=torch.int64),
        "index": torch.tensor([p.index for p in plans], dtype=torch.int64),
    }


@dataclass
class PendingBatch:
    """A batch whose frames are still JPEG bytes: decoded by :meth:`finish` (on the GPU, in the main process).

    Attributes:
        layout: How the batch is presented.
        plans: One plan per sample.
        jpegs: The JPEG bytes of every sample's ``frames_needed()``, sample after sample.
    """

    layout: BatchLayout
    plans: list[SamplePlan]
    jpegs: list[torch.Tensor]

    def finish(self, device: str | torch.device) -> dict[str, Any]:
        """Decode every frame in one batched call on ``device`` and assemble the batch there."""
        device = torch.device(device)
        images = [image.permute(1, 2, 0) for image in decode_jpegs(self.jpegs, device)]
        decoded, start = [], 0
        for plan in self.plans:
            count = len(plan.frames_needed())
            decoded.append(images[start : start + count])
            start += count
        return _assemble(self.layout, self.plans, decoded, device)


def finish_batch(batch: Any, device: str | torch.device) -> Any:
    """``batch`` itself, or the finished batch when the dataset left the decoding to the main process."""
    if isinstance(batch, dict) and isinstance(batch.get("pending"), PendingBatch):
        return batch["pending"].finish(device)
    return batch


class PlannedDataset(Dataset[dict[str, Any]]):
    """Base of the batch-native datasets: subclasses plan a sample and decode the frames of planned samples.

    Subclasses set ``layout`` and ``decode_device`` and implement :meth:`plan`, :meth:`decode` (CPU frames of each
    plan, in ``frames_needed`` order) and, to support GPU decoding, :meth:`jpeg_bytes`.
    """

    layout: BatchLayout
    decode_device: torch.device

    def plan(self, index: int, generator: torch.Generator | None) -> SamplePlan:
        """The plan of sample ``index``, drawn from ``generator``."""
        raise NotImplementedError

    def decode(self, plans: Sequence[SamplePlan]) -> Iterable[torch.Tensor | Sequence[torch.Tensor]]:
        """Each plan's decoded ``frames_needed()`` as ``(H, W, 3)`` CPU tensors (consumed one plan at a time)."""
        raise NotImplementedError

    def jpeg_bytes(self, plans: Sequence[SamplePlan]) -> list[torch.Tensor]:
        """The JPEG bytes of each plan's ``frames_needed()`` (for decoding elsewhere)."""
        raise NotImplementedError(f"{type(self).__name__} cannot leave decoding to another device")

    def plans(self, request: BatchRequest) -> list[SamplePlan]:
        """The plans of a request's samples, each drawn from its own seeded generator."""
        return [self.plan(i, g) for i, g in zip(request.indices, request.generators(), strict=True)]

    def load(self, request: BatchRequest) -> dict[str, Any]:
        """The batch of ``request`` (or ``{"pending": PendingBatch}`` when decoding happens on another device)."""
        plans = self.plans(request)
        if not plans:
            raise ValueError("empty batch request")
        if self.decode_device.type != "cpu":
            return {"pending": PendingBatch(self.layout, plans, self.jpeg_bytes(plans))}
        return _assemble(self.layout, plans, self.decode(plans), torch.device("cpu"))

    def __getitem__(self, key: int | BatchRequest) -> dict[str, Any]:
        if isinstance(key, BatchRequest):
            return self.load(key)
        seed = int(torch.randint(0, 2**62, (1,)).item())
        request = BatchRequest((int(key),), (0,), seed, 0)
        batch = finish_batch(self.load(request), self.decode_device)
        return {k: (v[0] if isinstance(v, torch.Tensor) else [x[0] for x in v]) for k, v in batch.items()} | {
            "label": int(batch["label"][0]),
            "index": int(batch["index"][0]),
        }
