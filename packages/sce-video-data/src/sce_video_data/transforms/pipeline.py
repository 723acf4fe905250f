"""``BatchAugmentation``: the GPU stage of one view, in SPEC order (3.3, 4.3, 5.2, 5.3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from sce_video_data.transforms.blur import GaussianBlur
from sce_video_data.transforms.color import ColorJitter, RandomGrayscale, RandomSolarize
from sce_video_data.transforms.flip_normalize import Normalize, RandomHorizontalFlip, to_float_batch
from sce_video_data.transforms.functional import check_batch

__all__ = ["BatchAugmentation", "BatchStep"]

BatchStep = ColorJitter | RandomGrayscale | GaussianBlur | RandomSolarize | RandomHorizontalFlip | Normalize


@dataclass(frozen=True)
class BatchAugmentation:
    """The batched augmentation of one view: /255, jitter, grayscale, blur, solarize, flip, normalise.

    Steps that are ``None`` are skipped. The parameters of every step are drawn for the whole batch first, from
    the same generator and in that order, so a seeded generator reproduces the output on CPU and CUDA alike. On CPU
    the steps then run on chunks of about ``cpu_chunk_bytes`` of float data at a time, so that the intermediate
    results stay in the processor caches (about 2x faster at 16 clips x 8 x 112^2 than whole-batch passes); the
    result does not depend on the chunking because every operation acts on each sample separately.

    Attributes:
        color_jitter: Random colour jitter, or ``None``.
        grayscale: Random grayscale, or ``None``.
        blur: Random Gaussian blur, or ``None``.
        solarize: Random solarisation, or ``None``.
        flip: Random horizontal flip, or ``None``.
        normalize: Final normalisation, or ``None``.
        cpu_chunk_bytes: Target size of a chunk on CPU (at least one sample; ``0`` processes the whole batch at once).
    """

    color_jitter: ColorJitter | None = None
    grayscale: RandomGrayscale | None = None
    blur: GaussianBlur | None = None
    solarize: RandomSolarize | None = None
    flip: RandomHorizontalFlip | None = None
    normalize: Normalize | None = None
    cpu_chunk_bytes: int = 1 << 21

    def steps(self) -> list[BatchStep]:
        """The steps that are on, in the order they run."""
        ordered = (self.color_jitter, self.grayscale, self.blur, self.solarize, self.flip, self.normalize)
        return [step for step in ordered if step is not None]

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment a batch.

        Args:
            x: Float ``(B, C, T, H, W)`` / ``(B, C, H, W)`` in [0, 1], or the loaders' collated uint8
                ``(B, T, H, W, C)`` / ``(B, H, W, C)``, which is converted with :func:`to_float_batch` on its own
                device (chunk by chunk on CPU).
            generator: Source of randomness (``None``: the global CPU generator).

        Returns:
            The augmented float batch, channels first.
        """
        steps = self.steps()
        params = [step.sample(x.shape[0], generator) for step in steps]
        size = self._chunk_size(x)
        if size >= x.shape[0]:
            return self._run(x, steps, params)
        chunks = [
            self._run(x[start : start + size], steps, [_rows(p, start, size) for p in params])
            for start in range(0, x.shape[0], size)
        ]
        return torch.cat(chunks)

    def _chunk_size(self, x: torch.Tensor) -> int:
        if x.device.type != "cpu" or self.cpu_chunk_bytes <= 0:
            return x.shape[0]
        sample_bytes = x[0].numel() * 4
        return max(1, self.cpu_chunk_bytes // sample_bytes)

    @staticmethod
    def _run(x: torch.Tensor, steps: list[BatchStep], params: list[Any]) -> torch.Tensor:
        if x.dtype == torch.uint8:
            x = to_float_batch(x)
        check_batch(x, channels=None)
        for step, p in zip(steps, params, strict=True):
            x = step.apply(x, p)
        return x


def _rows(params: Any, start: int, size: int) -> Any:
    return None if params is None else params[start : start + size]
