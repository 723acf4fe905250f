"""Clip datasets: :class:`ShardVideoDataset` (shards) and :class:`VideoFileDataset` (original files, PyAV).

Both return ``{"video": uint8 (num_clips, T, H, W, 3), "label": int, "index": int}`` with the same clip sampling
(:mod:`sce_video_data.clip_sampling`): ``"random"`` draws ``num_clips`` independent clips (SPEC 4.2), ``"uniform"``
gives ``clips_per_video`` evenly spaced evaluation clips (SPEC 5.2). An optional ``transform`` is applied to each clip
(uint8 ``(T, H, W, 3)`` in, any tensor out) inside the loader workers; the results are stacked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from sce_video_data.clip_sampling import clip_frame_indices, random_clip_starts, uniform_clip_starts
from sce_video_data.decoding import VideoFile
from sce_video_data.shard_reader import ShardReader

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


class ShardVideoDataset(Dataset[dict[str, Any]]):
    """Clips read from a shard folder built by ``sce-shards build``: memory-mapped, only sampled frames decoded.

    Args:
        path: Shard folder.
        frames: Frames per clip.
        clip_duration: Clip duration in seconds.
        num_clips: Clips per sample (``"random"``).
        sampling: ``"random"`` (SPEC 4.2) or ``"uniform"`` (SPEC 5.2).
        clips_per_video: Clips per sample (``"uniform"``).
        decode_device: Where JPEGs are decoded (``"cuda"`` uses the GPU decoder; use it in the main process).
        transform: Applied to each uint8 ``(T, H, W, 3)`` clip.
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
    ) -> None:
        self.sampling = ClipSampling(frames, clip_duration, num_clips, sampling, clips_per_video)
        self.reader = ShardReader(path)
        self.decode_device = decode_device
        self.transform = transform

    def __len__(self) -> int:
        return len(self.reader)

    @property
    def class_names(self) -> list[str]:
        """Class names (label ``i`` is ``class_names[i]``)."""
        return self.reader.class_names

    def frame_indices(self, index: int, starts: Sequence[float] | None = None) -> list[list[int]]:
        """Frame indices of each clip of item ``index`` (random starts drawn unless ``starts`` is given)."""
        info = self.reader.item(index)
        starts = self.sampling.starts(info.duration) if starts is None else starts
        times = None if info.cfr else info.times
        s = self.sampling
        return clip_frame_indices(starts, s.clip_duration, s.frames, info.num_frames, info.fps, times)

    def __getitem__(self, index: int) -> dict[str, Any]:
        clips = self.frame_indices(index)
        flat = [f for clip in clips for f in clip]
        frames = self.reader.read_frames(index, flat, self.decode_device)
        video = frames.reshape(len(clips), self.sampling.frames, *frames.shape[1:])
        return {"video": _apply(video, self.transform), "label": self.reader.item(index).label, "index": index}


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
