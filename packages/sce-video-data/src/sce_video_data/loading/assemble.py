"""Carry out sample plans: decoded frames → temporal differences, crops and resizes → their place in the batch.

The same code runs on the CPU (frames decoded in a loader worker) and on the GPU (frames decoded in the main process
by the batched CUDA decoder): the inputs are the decoded distinct frames of each sample, ``(H, W, 3)`` uint8 tensors
on one device, and the outputs are batch tensors on that device.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from sce_video_data.loading.plans import ClipPlan, SamplePlan
from sce_video_data.transforms.plans import CropOp, ResizeOp, SpatialPlan
from sce_video_data.transforms.resize import crop
from sce_video_data.transforms.temporal import grayscale_difference

__all__ = ["Frames", "ViewBatch", "allocate_views", "clip_views", "fill_sample"]

Frames = torch.Tensor | Sequence[torch.Tensor]
"""A sample's decoded distinct frames: ``(n, H, W, 3)`` or ``n`` frames ``(H, W, 3)``."""

ViewBatch = torch.Tensor | list[torch.Tensor]
"""One view of a batch: ``(B, clips, T, h, w, 3)``, or one ``(clips, T, h, w, 3)`` per sample when sizes differ."""


def allocate_views(
    plans: Sequence[SamplePlan], frames: int, device: torch.device
) -> tuple[list[ViewBatch], torch.Tensor | None]:
    """Empty uint8 outputs of every view of the samples ``plans``.

    Returns:
        ``(views, combined)``: when every view of every sample has one size, ``combined`` is one
        ``(B, clips, views, T, h, w, 3)`` tensor and ``views[v]`` its slice ``[:, :, v]``; otherwise ``combined`` is
        None and each view is a ``(B, clips, T, h, w, 3)`` tensor, or one ``(clips, T, h, w, 3)`` per sample when
        the samples' sizes differ.

    Raises:
        ValueError: The samples do not all have the same number of clips and views, or the clips of one sample
            differ in size (e.g. a random scale without a crop after it).
    """
    layouts = {(len(p.clips), len(p.clips[0].views)) for p in plans}
    if len(layouts) != 1:
        raise ValueError(f"the samples of a batch differ in clips and views: {sorted(layouts)}")
    clips, views = layouts.pop()
    for p in plans:
        for v in range(views):
            if len(clip_sizes := {clip.views[v].size for clip in p.clips}) != 1:
                raise ValueError(
                    f"the clips of sample {p.index} differ in size ({sorted(clip_sizes)}, view {v}): "
                    "end the transform with a crop of a fixed size"
                )
    sizes = [[p.clips[c].views[v].size for p in plans for c in range(clips)] for v in range(views)]
    if len({size for view in sizes for size in view}) == 1:
        combined = torch.empty((len(plans), clips, views, frames, *sizes[0][0], 3), dtype=torch.uint8, device=device)
        return [combined[:, :, v] for v in range(views)], combined
    outputs: list[ViewBatch] = []
    for v in range(views):
        if len(set(sizes[v])) == 1:
            outputs.append(torch.empty((len(plans), clips, frames, *sizes[v][0], 3), dtype=torch.uint8, device=device))
        else:
            shapes = [(clips, frames, *p.clips[0].views[v].size, 3) for p in plans]
            outputs.append([torch.empty(shape, dtype=torch.uint8, device=device) for shape in shapes])
    return outputs, None


def _gather(frames: Frames, ids: Sequence[int], where: dict[int, int], box: CropOp | None) -> torch.Tensor:
    """``(T, h, w, 3)``: the frames ``ids`` stacked, each cut to ``box`` first (only the box is copied)."""
    picked = [frames[where[f]] for f in ids]
    if box is not None:
        picked = [crop(frame, box.top, box.left, box.height, box.width) for frame in picked]
    return torch.stack(picked)


def _clip_input(frames: Frames, where: dict[int, int], clip: ClipPlan, box: CropOp | None) -> torch.Tensor:
    """The clip's frames (or their temporal difference, SPEC 4.2), cut to ``box`` when given."""
    kept = _gather(frames, clip.frames, where, box)
    if clip.next_frames is None:
        return kept
    return grayscale_difference(kept, _gather(frames, clip.next_frames, where, box))


def _rest(view: SpatialPlan, box: CropOp | None) -> SpatialPlan:
    """``view`` without its leading crop (already applied as ``box``)."""
    if box is None:
        return view
    ops: tuple[CropOp | ResizeOp, ...] = view.ops[1:]
    return SpatialPlan(ops, (box.height, box.width), view.size)


def clip_views(frames: Frames, where: dict[int, int], clip: ClipPlan) -> list[torch.Tensor]:
    """Every view of one clip, ``(T, h, w, 3)`` each: the pixel work of a plan, before the views reach the batch.

    Each view's crop box is cut before its frames are gathered, the temporal difference is taken where the clip plans
    one (SPEC 4.2), then the view's resizes; views sharing a first resize resize the frames once.

    Args:
        frames: The sample's decoded distinct frames.
        where: Stored frame number -> its position in ``frames``.
        clip: The clip's plan.
    """
    full: torch.Tensor | None = None
    resized: dict[ResizeOp, torch.Tensor] = {}
    out = []
    for view in clip.views:
        box = view.leading_crop
        if box is not None:
            out.append(_rest(view, box).apply(_clip_input(frames, where, clip, box)))
            continue
        if full is None:
            full = _clip_input(frames, where, clip, None)
        first = view.ops[0] if view.ops else None
        if isinstance(first, ResizeOp):
            if first not in resized:
                resized[first] = SpatialPlan((first,), view.in_size, (first.height, first.width)).apply(full)
            rest = SpatialPlan(view.ops[1:], (first.height, first.width), view.size)
            out.append(rest.apply(resized[first]))
        else:
            out.append(view.apply(full))
    return out


def fill_sample(frames: Frames, frame_ids: Sequence[int], plan: SamplePlan, outputs: list[ViewBatch], row: int) -> None:
    """Write sample ``row`` of the batch: ``frames[k]`` is the decoded stored frame ``frame_ids[k]`` ``(H, W, 3)``."""
    where = {f: k for k, f in enumerate(frame_ids)}
    for c, clip in enumerate(plan.clips):
        for v, view in enumerate(clip_views(frames, where, clip)):
            outputs[v][row][c].copy_(view)
