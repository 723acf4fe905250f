"""Clip datasets: :class:`ShardVideoDataset` (shards) and :class:`VideoFileDataset` (original files, PyAV).

Both are batch-native (:mod:`sce_video_data.loading.batches`): given a
:class:`~sce_video_data.loading.batch_sampler.BatchRequest` they return the whole batch
``{"video": uint8 (B, clips, T, H, W, 3), "label": int64 (B,), "index": int64 (B,)}``, each sample planned before
anything is decoded (clip starts, temporal difference, crop boxes; :mod:`sce_video_data.loading.plans`) and each
view written straight into the batch. ``"random"`` sampling draws ``num_clips`` independent clips (SPEC 4.2),
``"uniform"`` gives ``clips_per_video`` evenly spaced evaluation clips (SPEC 5.2). The ``transform`` is a loader
transform of :mod:`sce_video_data.transforms` (crops, scales, ``RandomTemporalDifference`` first in a ``Compose``,
or a ``MultiCrop`` of views); with a ``MultiCrop`` whose views have one size the batch is
``(B, clips, views, T, h, w, 3)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from sce_video_data.codecs.jpeg import resolve_jpeg_decoder
from sce_video_data.codecs.video import VideoFile, resized_size
from sce_video_data.loading.batches import BatchLayout, PlannedDataset
from sce_video_data.loading.clip_sampling import clip_frame_indices
from sce_video_data.loading.frames import FrameBuffer, decode_shard_frames
from sce_video_data.loading.plans import ClipSampling, FrameSource, SamplePlan, draw_plan
from sce_video_data.shards.reader import ItemInfo, ShardReader
from sce_video_data.transforms.multiview import MultiCrop
from sce_video_data.transforms.plans import is_plannable

__all__ = ["ClipSampling", "ShardVideoDataset", "VideoFileDataset", "check_loader_transform", "resolve_decode_device"]


def resolve_decode_device(decode_device: str | torch.device) -> torch.device:
    """``"auto"`` is ``cuda`` when a GPU is available, else ``cpu``; any other value is a torch device."""
    if decode_device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(decode_device)
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"decode_device: expected 'cpu', 'cuda' or 'auto', got {decode_device!r}")
    return device


def check_loader_transform(transform: Any) -> None:
    """Raise ``TypeError`` unless ``transform`` can be planned before decoding (:mod:`..transforms.plans`)."""
    if not is_plannable(transform):
        raise TypeError(
            f"transform {transform!r}: expected a loader transform of sce_video_data.transforms (crops, scales, "
            "RandomTemporalDifference first in a Compose, or a MultiCrop), planned before decoding"
        )


class ShardVideoDataset(PlannedDataset):
    """Clips read from a shard folder built by ``sce-shards build``: memory-mapped, only planned frames decoded.

    Args:
        path: Shard folder.
        frames: Frames per clip.
        clip_duration: Clip duration in seconds.
        num_clips: Clips per sample (``"random"``).
        sampling: ``"random"`` (SPEC 4.2) or ``"uniform"`` (SPEC 5.2).
        clips_per_video: Clips per sample (``"uniform"``).
        decode_device: ``"cpu"`` (decoded where the dataset runs: the loader workers), ``"cuda"`` (the batch comes
            back as JPEG bytes and plans, decoded on the GPU by :func:`~sce_video_data.loading.batches.finish_batch`
            in the main process) or ``"auto"`` (``cuda`` when available).
        transform: Loader transform of each clip (None: the stored frames).
        jpeg_decoder: CPU decoder: ``"auto"`` (libjpeg-turbo through ``simplejpeg`` when ``sce-video-data[turbo]``
            is installed, else torchvision's), ``"torchvision"`` or ``"simplejpeg"``; the pixels are the same.
        verify_frames: Check the CRC-32 of every frame's bytes before decoding it (the default: a damaged frame
            raises :class:`~sce_video_data.shards.format.ShardDamageError` naming the shard file, item and frame,
            also from a loader worker; about 1% of the decoding time). False skips the check.

    Raises:
        ValueError: An unknown ``jpeg_decoder``, device or sampling parameter.
        ShardDamageError: The folder's index is inconsistent (checked when the dataset is made).
        TypeError: A transform that cannot be planned before decoding.
        ModuleNotFoundError: ``jpeg_decoder="simplejpeg"`` without the package.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        frames: int = 8,
        clip_duration: float = 2.56,
        num_clips: int = 2,
        sampling: str = "random",
        clips_per_video: int = 10,
        decode_device: str | torch.device = "cpu",
        transform: Any = None,
        jpeg_decoder: str = "auto",
        verify_frames: bool = True,
    ) -> None:
        check_loader_transform(transform)
        self.sampling = ClipSampling(frames, clip_duration, num_clips, sampling, clips_per_video)
        self.reader = ShardReader(path, verify_frames=verify_frames)
        self.decode_device = resolve_decode_device(decode_device)
        self.transform = transform
        self.jpeg_decoder = resolve_jpeg_decoder(jpeg_decoder)
        self.layout = BatchLayout("video", frames, isinstance(transform, MultiCrop))
        self._buffer = FrameBuffer()

    def __len__(self) -> int:
        return len(self.reader)

    @property
    def class_names(self) -> list[str]:
        """Class names (label ``i`` is ``class_names[i]``)."""
        return self.reader.class_names

    @staticmethod
    def _source(info: ItemInfo) -> FrameSource:
        times = None if info.cfr else info.times
        return FrameSource(info.num_frames, info.fps, info.duration, info.height, info.width, info.label, times)

    def plan(self, index: int, generator: torch.Generator | None) -> SamplePlan:
        """The plan of item ``index`` (clip starts, difference flags, crop boxes) drawn from ``generator``."""
        source = self._source(self.reader.item(index))
        return draw_plan(index, source, self.sampling, self.transform, generator)

    def frame_indices(self, index: int, starts: Sequence[float] | None = None) -> list[list[int]]:
        """The kept frames of each clip of item ``index`` (random starts drawn from torch's generator)."""
        if starts is not None:
            info = self.reader.item(index)
            s = self.sampling
            times = None if info.cfr else info.times
            return clip_frame_indices(starts, s.clip_duration, s.frames, info.num_frames, info.fps, times)
        return [list(clip.frames) for clip in self.plan(index, None).clips]

    def decode(self, plans: Sequence[SamplePlan]) -> Iterator[torch.Tensor]:
        """Each plan's needed frames decoded on the CPU into a reused buffer (one plan at a time)."""
        items = [p.index for p in plans]
        needed = [p.frames_needed() for p in plans]
        sizes = [(p.height, p.width) for p in plans]
        return decode_shard_frames(self.reader, items, needed, sizes, self._buffer, self.jpeg_decoder == "simplejpeg")

    def jpeg_bytes(self, plans: Sequence[SamplePlan]) -> list[torch.Tensor]:
        """Copies of the JPEG bytes of each plan's needed frames (sent from a worker to the main process)."""
        return self.reader.frame_bytes_many([p.index for p in plans], [p.frames_needed() for p in plans])


class VideoFileDataset(PlannedDataset):
    """Same interface as :class:`ShardVideoDataset`, decoding the original files with PyAV on the fly.

    A sample's file is opened once: its header gives the frame count and size the plan is drawn for, then only the
    planned frames are decoded (seek to the keyframe before the first, decode up to the last). Frame indices assume
    a constant frame rate (``duration = num_frames / fps`` as the authors do).

    Args:
        root: Folder the item paths are relative to.
        items: ``(relative path, label)`` pairs, e.g. from :mod:`sce_video_data.indexes`.
        class_names: Optional class names.
        frames: Frames per clip.
        clip_duration: Clip duration in seconds.
        num_clips: Clips per sample (``"random"``).
        sampling: ``"random"`` or ``"uniform"``.
        clips_per_video: Clips per sample (``"uniform"``).
        short_side: Resize frames to this short side while decoding (None keeps the size).
        transform: Loader transform of each clip.
    """

    def __init__(
        self,
        root: str | Path,
        items: Sequence[tuple[str, int]],
        *,
        class_names: Sequence[str] | None = None,
        frames: int = 8,
        clip_duration: float = 2.56,
        num_clips: int = 2,
        sampling: str = "random",
        clips_per_video: int = 10,
        short_side: int | None = None,
        transform: Any = None,
    ) -> None:
        check_loader_transform(transform)
        self.sampling = ClipSampling(frames, clip_duration, num_clips, sampling, clips_per_video)
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"video root folder not found: {self.root}")
        self.items = [(str(p), int(label)) for p, label in items]
        self.class_names = list(class_names) if class_names is not None else []
        self.short_side = short_side
        self.transform = transform
        self.decode_device = torch.device("cpu")
        self.layout = BatchLayout("video", frames, isinstance(transform, MultiCrop))
        self._open: dict[int, VideoFile] = {}

    def __len__(self) -> int:
        return len(self.items)

    def plan(self, index: int, generator: torch.Generator | None) -> SamplePlan:
        """Open item ``index`` (kept open for :meth:`decode`) and draw its plan from ``generator``."""
        if not 0 <= index < len(self.items):
            raise IndexError(f"item {index} out of range for {len(self.items)} videos")
        rel, label = self.items[index]
        video = self._open.pop(index, None) or VideoFile(self.root / rel, self.short_side)
        self._open[index] = video
        info = video.info
        width, height = resized_size(info.width, info.height, self.short_side)
        source = FrameSource(info.num_frames, info.fps, info.duration, height, width, label)
        return draw_plan(index, source, self.sampling, self.transform, generator)

    def decode(self, plans: Sequence[SamplePlan]) -> Iterator[torch.Tensor]:
        """Each plan's needed frames, read from its open file (closed right after)."""
        for plan in plans:
            opened = self._open.pop(plan.index, None)
            video = opened if opened is not None else VideoFile(self.root / self.items[plan.index][0], self.short_side)
            with video:
                yield video.read(plan.frames_needed())

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_open"] = {}
        return state
