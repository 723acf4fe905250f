"""Clip datasets: :class:`ShardVideoDataset` (shards) and :class:`VideoFileDataset` (original files, PyAV).

Both return ``{"video": uint8 (num_clips, T, H, W, 3), "label": int, "index": int}`` with the same clip sampling
(:mod:`sce_video_data.clip_sampling`): ``"random"`` draws ``num_clips`` independent clips (SPEC 4.2), ``"uniform"``
gives ``clips_per_video`` evenly spaced evaluation clips (SPEC 5.2). An optional ``transform`` is applied to each clip
(uint8 ``(T, H, W, 3)`` in, any tensor out) inside the loader workers; the results are stacked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, get_worker_info

from sce_video_data.clip_sampling import clip_frame_indices, random_clip_starts, uniform_clip_starts
from sce_video_data.collation import BatchBuilder
from sce_video_data.decoding import VideoFile
from sce_video_data.jpeg_decoders import TURBO, DirectDecoder, resolve_jpeg_decoder
from sce_video_data.shard_reader import ItemInfo, ShardReader, decode_jpeg_frame, decode_jpegs

__all__ = ["ClipSampling", "ShardVideoDataset", "VideoFileDataset"]

Transform = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class ClipSampling:
    """Which frames a sample holds.

    Attributes:
        frames: Frames per clip (``T``).
        clip_duration: Clip duration in seconds.
        num_clips: Clips per sample with ``"random"``.
        sampling: ``"random"`` (SPEC 4.2) or ``"uniform"`` (SPEC 5.2).
        clips_per_video: Clips per sample with ``"uniform"``.
    """

    frames: int = 8
    clip_duration: float = 2.56
    num_clips: int = 2
    sampling: str = "random"
    clips_per_video: int = 10

    def __post_init__(self) -> None:
        if self.sampling not in ("random", "uniform"):
            raise ValueError(f"sampling: expected 'random' or 'uniform', got {self.sampling!r}")
        for name in ("frames", "num_clips", "clips_per_video"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected >= 1, got {getattr(self, name)}")
        if self.clip_duration <= 0:
            raise ValueError(f"clip_duration: expected > 0, got {self.clip_duration}")

    def starts(self, duration: float) -> list[float]:
        """Clip start times for a video of ``duration`` seconds (random ones use torch's RNG of this process)."""
        if self.sampling == "uniform":
            return uniform_clip_starts(duration, self.clip_duration, self.clips_per_video)
        return random_clip_starts(duration, self.clip_duration, self.num_clips, torch.rand(self.num_clips).tolist())


def _apply(clips: torch.Tensor, transform: Transform | None) -> torch.Tensor:
    if transform is None:
        return clips
    return torch.stack([transform(clip) for clip in clips])


@dataclass
class _Plan:
    """The frames of some items, each distinct frame of an item listed (and decoded) once.

    Attributes:
        labels: Labels of the items.
        jpegs: JPEG bytes of the distinct frames of each item, item after item (uint8 tensors, or arrays for
            simplejpeg: views of the memory map either way).
        bounds: Item ``k``'s distinct frames are ``jpegs[bounds[k] : bounds[k + 1]]``.
        slots: For each item, the position in ``jpegs`` of each of its clip frames (clip after clip).
    """

    labels: list[int]
    jpegs: Sequence[Any]
    bounds: list[int]
    slots: list[list[int]]


def _distinct(clips: list[list[int]], base: int) -> tuple[list[int], list[int]]:
    """``(distinct frames in order, base + position among them of every clip frame)`` of one item's clips."""
    unique = sorted({f for clip in clips for f in clip})
    position = {f: base + k for k, f in enumerate(unique)}
    return unique, [position[f] for clip in clips for f in clip]


class ShardVideoDataset(Dataset[dict[str, Any]]):
    """Clips read from a shard folder built by ``sce-shards build``: memory-mapped, only sampled frames decoded.

    Through a DataLoader, a batch is decoded straight into its batch tensor (:meth:`__getitems__`), which the default
    collate then returns without copying (:mod:`sce_video_data.collation`).

    Args:
        path: Shard folder.
        frames: Frames per clip.
        clip_duration: Clip duration in seconds.
        num_clips: Clips per sample (``"random"``).
        sampling: ``"random"`` (SPEC 4.2) or ``"uniform"`` (SPEC 5.2).
        clips_per_video: Clips per sample (``"uniform"``).
        decode_device: Where JPEGs are decoded (``"cuda"`` uses the GPU decoder; use it in the main process).
        transform: Applied to each uint8 ``(T, H, W, 3)`` clip.
        jpeg_decoder: CPU decoder: ``"auto"`` (libjpeg-turbo through ``simplejpeg``, decoding straight into the
            batch, when ``sce-video-data[turbo]`` is installed; else torchvision's), ``"torchvision"`` or
            ``"simplejpeg"``; the pixels are the same (:mod:`sce_video_data.jpeg_decoders`).

    Raises:
        ValueError: An unknown ``jpeg_decoder`` or sampling parameter.
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
        transform: Transform | None = None,
        jpeg_decoder: str = "auto",
    ) -> None:
        self.sampling = ClipSampling(frames, clip_duration, num_clips, sampling, clips_per_video)
        self.reader = ShardReader(path)
        self.decode_device = decode_device
        self.transform = transform
        self.jpeg_decoder = resolve_jpeg_decoder(jpeg_decoder)

    def __len__(self) -> int:
        return len(self.reader)

    @property
    def class_names(self) -> list[str]:
        """Class names (label ``i`` is ``class_names[i]``)."""
        return self.reader.class_names

    def frame_indices(self, index: int, starts: Sequence[float] | None = None) -> list[list[int]]:
        """Frame indices of each clip of item ``index`` (random starts drawn unless ``starts`` is given)."""
        return self._clip_frames(self.reader.item(index), starts)

    def _clip_frames(self, info: ItemInfo, starts: Sequence[float] | None = None) -> list[list[int]]:
        starts = self.sampling.starts(info.duration) if starts is None else starts
        times = None if info.cfr else info.times
        s = self.sampling
        return clip_frame_indices(starts, s.clip_duration, s.frames, info.num_frames, info.fps, times)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return dict(self._samples([index], shared=False)[0])

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """The samples ``[self[i] for i in indices]``, decoded straight into one batch tensor.

        On the CPU, the distinct frames of an item are decoded one by one, once each, into the places they take in a
        ``(B, clips, T, H, W, 3)`` tensor whose rows are the samples' videos: straight into the first place with
        libjpeg-turbo (``jpeg_decoder``), or decoded by torchvision and copied while still in cache; repeats are
        copied. That tensor is a buffer reused once nothing uses it any more, in shared memory in a DataLoader worker
        (:mod:`sce_video_data.batch_buffers`); torch's default collate then returns it without copying it again
        (:mod:`sce_video_data.collation`). With a ``transform``, each item's frames are decoded the same way into a
        reused ``(clips, T, H, W, 3)`` buffer, and the transform's per-clip outputs are copied once into the batch.
        On the GPU, the frames of the whole batch are decoded in one call. Random clip starts are drawn item by item
        just before the item's transform runs, so torch's RNG is used in the same order as by ``dataset[i]``.
        Samples whose videos differ in shape (frames of different sizes) come back as separate tensors, exactly as
        ``dataset[i]`` gives them.
        """
        return self._samples(indices, shared=get_worker_info() is not None)

    def _samples(self, indices: Sequence[int], shared: bool) -> list[dict[str, Any]]:
        indices = [int(i) for i in indices]
        if not indices:
            return []
        s = self.sampling
        inner = (s.clips_per_video if s.sampling == "uniform" else s.num_clips, s.frames)
        builder = BatchBuilder(len(indices), shared)
        labels: list[int] = []
        for plan in self._plans(indices):
            labels.extend(plan.labels)
            if self._decode_per_item():
                for start, stop, slots in zip(plan.bounds[:-1], plan.bounds[1:], plan.slots, strict=True):
                    positions = [p - start for p in slots]
                    if self.transform is None:
                        builder.add_decoded(plan.jpegs[start:stop], positions, inner, *self._cpu_decoders())
                    else:
                        video = self._decoded_video(plan.jpegs[start:stop], positions, inner)
                        builder.add([self.transform(clip) for clip in video], inner[:1])
                continue
            for frames in self._item_frames(plan):
                if self.transform is None:
                    builder.add(frames, inner)
                else:
                    video = torch.stack(frames).reshape(*inner, *frames[0].shape)
                    builder.add([self.transform(clip) for clip in video], inner[:1])
        return builder.samples(labels, indices)

    def _cpu_decoders(self) -> tuple[Callable[[torch.Tensor], torch.Tensor], DirectDecoder | None]:
        """``(decode, direct)`` for :meth:`BatchBuilder.add_decoded` (``direct`` None: torchvision's decoder only)."""
        return decode_jpeg_frame, TURBO if self.jpeg_decoder == "simplejpeg" else None

    def _decoded_video(self, jpegs: Sequence[Any], positions: list[int], inner: tuple[int, int]) -> torch.Tensor:
        """One item's ``(clips, T, H, W, 3)`` frames, decoded into a reused private buffer (the transform's input)."""
        item = BatchBuilder(1, shared=False)
        item.add_decoded(jpegs, positions, inner, *self._cpu_decoders())
        return item.videos[0]

    def _plans(self, indices: list[int]) -> Iterator[_Plan]:
        """One plan for all ``indices``, or one per item when random starts and a transform share the RNG."""
        if self.transform is not None and self.sampling.sampling == "random":
            for index in indices:  # lazily: item k's starts are drawn after item k - 1's transform ran
                yield self._plan([index])
        else:
            yield self._plan(indices)

    def _plan(self, indices: list[int]) -> _Plan:
        """Clip frames of ``indices`` (random starts drawn in order) and the JPEG bytes of their distinct frames."""
        infos = self.reader.items(indices)
        uniques, slots, bounds = [], [], [0]
        for info in infos:
            unique, item_slots = _distinct(self._clip_frames(info), bounds[-1])
            uniques.append(unique)
            slots.append(item_slots)
            bounds.append(bounds[-1] + len(unique))
        if self._decode_per_item() and self.jpeg_decoder == "simplejpeg":  # arrays: what simplejpeg reads
            jpegs: Sequence[Any] = self.reader.frame_arrays_many(indices, uniques)
        else:
            jpegs = self.reader.frame_bytes_many(indices, uniques, copy=False)
        return _Plan([info.label for info in infos], jpegs, bounds, slots)

    def _decode_per_item(self) -> bool:
        """CPU: decode item by item, frame by frame, into the batch (or copied while in cache); the GPU: one call."""
        return torch.device(self.decode_device).type == "cpu"

    def _item_frames(self, plan: _Plan) -> Iterator[list[torch.Tensor]]:
        """For each item of ``plan``, its decoded ``(H, W, 3)`` clip frames in order, all decoded in one call (GPU)."""
        # the decoder returns (3, H, W) views of (H, W, 3) memory: permuted back they are contiguous
        frames = [image.permute(1, 2, 0) for image in decode_jpegs(list(plan.jpegs), self.decode_device)]
        for slots in plan.slots:  # repeats are the same tensor
            yield [frames[p] for p in slots]


class VideoFileDataset(Dataset[dict[str, Any]]):
    """Same interface as :class:`ShardVideoDataset`, decoding the original files with PyAV on the fly.

    Each clip is decoded separately (seek to the keyframe before its first frame, decode up to its last frame).
    Frame indices assume a constant frame rate (``duration = num_frames / fps`` as the authors do, SPEC 6.1).

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
        transform: Applied to each uint8 ``(T, H, W, 3)`` clip.
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
        transform: Transform | None = None,
    ) -> None:
        self.sampling = ClipSampling(frames, clip_duration, num_clips, sampling, clips_per_video)
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"video root folder not found: {self.root}")
        self.items = [(str(p), int(label)) for p, label in items]
        self.class_names = list(class_names) if class_names is not None else []
        self.short_side = short_side
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rel, label = self.items[index]
        s = self.sampling
        with VideoFile(self.root / rel, self.short_side) as video:
            info = video.info
            clips = clip_frame_indices(s.starts(info.duration), s.clip_duration, s.frames, info.num_frames, info.fps)
            stacked = torch.stack([video.read(clip) for clip in clips])
        return {"video": _apply(stacked, self.transform), "label": label, "index": index}
