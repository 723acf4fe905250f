"""Random colour transforms on float batches: ``ColorJitter``, ``RandomGrayscale``, ``RandomSolarize``.

Parameters are drawn once per sample and shared by all frames of a clip (SPEC 4.3, ``same_on_frames=True``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from sce_video_data.transforms.functional import (
    adjust_brightness,
    adjust_contrast,
    adjust_saturation,
    check_batch,
    rgb_to_grayscale,
    solarize,
)
from sce_video_data.transforms.hsv import adjust_hue
from sce_video_data.transforms.params import apply_mask, check_probability, uniform
from sce_video_data.transforms.subset import apply_to_subset

__all__ = ["JITTER_OPS", "ColorJitter", "JitterParams", "RandomGrayscale", "RandomSolarize", "apply_color_jitter"]

JITTER_OPS: tuple[str, ...] = ("brightness", "contrast", "saturation", "hue")
_KERNELS: tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], ...] = (
    adjust_brightness,
    adjust_contrast,
    adjust_saturation,
    adjust_hue,
)


@dataclass(frozen=True)
class JitterParams:
    """Per-sample colour-jitter parameters.

    Attributes:
        apply: ``(B,)`` booleans, whether the sample is jittered at all.
        factors: ``(B, 4)`` factors for brightness, contrast, saturation, hue (in :data:`JITTER_OPS` order).
        order: ``(B, 4)`` a permutation of ``0..3`` per sample: the operations in the order they are applied.
        enabled: Which of the four operations are on (an operation with strength 0 is skipped).
    """

    apply: torch.Tensor
    factors: torch.Tensor
    order: torch.Tensor
    enabled: tuple[bool, bool, bool, bool] = (True, True, True, True)

    def __getitem__(self, rows: slice) -> JitterParams:
        """The parameters of a slice of the batch."""
        return JitterParams(self.apply[rows], self.factors[rows], self.order[rows], self.enabled)


def _operation(op: int, factors: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Jitter operation ``op`` with the factors of the rows it is given."""
    kernel = _KERNELS[op]
    return lambda sub, idx: kernel(sub, factors[idx, op])


def apply_color_jitter(x: torch.Tensor, params: JitterParams) -> torch.Tensor:
    """Apply given jitter parameters to a batch.

    Each selected sample goes through its enabled operations in its own order; each operation runs once per position
    on the samples that have it there, so the work is that of four full-batch operations.

    Args:
        x: Float RGB batch ``(B, 3, H, W)`` or ``(B, 3, T, H, W)`` in [0, 1].
        params: Parameters with ``B`` rows.

    Returns:
        The jittered batch.
    """
    check_batch(x)

    def jitter(sub: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        order, factors = params.order[idx], params.factors[idx]
        for position in range(order.shape[1]):
            for op in range(len(_KERNELS)):
                if params.enabled[op]:
                    sub = apply_to_subset(sub, order[:, position] == op, _operation(op, factors))
        return sub

    return apply_to_subset(x, params.apply, jitter)


@dataclass(frozen=True)
class ColorJitter:
    """Random brightness, contrast, saturation and hue, in a random order per sample.

    Factors are uniform per sample in ``[max(0, 1 - b), 1 + b]`` (same for contrast and saturation) and hue shifts in
    ``[-h, h]``, as torchvision's ``ColorJitter``.

    Attributes:
        brightness: Strength ``b`` (0 disables).
        contrast: Strength (0 disables).
        saturation: Strength (0 disables).
        hue: Strength in [0, 0.5] (0 disables).
        p: Probability of jittering a sample.
        stratified: Stratified choice of the jittered samples (see :mod:`.params`).
    """

    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0
    p: float = 1.0
    stratified: bool = True

    def __post_init__(self) -> None:
        check_probability("ColorJitter.p", self.p)
        for name in JITTER_OPS[:3]:
            if getattr(self, name) < 0:
                raise ValueError(f"ColorJitter.{name} must be non-negative, got {getattr(self, name)}")
        if not 0.0 <= self.hue <= 0.5:
            raise ValueError(f"ColorJitter.hue must be in [0, 0.5], got {self.hue}")

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> JitterParams:
        """Draw the parameters of a batch (on the generator's device)."""
        apply = apply_mask(batch_size, self.p, generator, self.stratified)
        columns = [
            uniform(max(0.0, 1.0 - s), 1.0 + s, batch_size, generator)
            for s in (self.brightness, self.contrast, self.saturation)
        ]
        columns.append(uniform(-self.hue, self.hue, batch_size, generator))
        gen_device = "cpu" if generator is None else generator.device
        order = torch.rand(batch_size, 4, generator=generator, device=gen_device).argsort(dim=1).cpu()
        enabled = (self.brightness > 0, self.contrast > 0, self.saturation > 0, self.hue > 0)
        return JitterParams(apply, torch.stack(columns, dim=1), order, enabled)

    def apply(self, x: torch.Tensor, params: JitterParams) -> torch.Tensor:
        """Jitter ``x`` with parameters drawn by :meth:`sample`."""
        return apply_color_jitter(x, params)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Jitter a random subset of ``x``."""
        check_batch(x)
        return self.apply(x, self.sample(x.shape[0], generator))


@dataclass(frozen=True)
class RandomGrayscale:
    """Replace samples by their luma replicated on three channels.

    Attributes:
        p: Probability of converting a sample.
        stratified: Stratified choice of the converted samples (see :mod:`.params`).
    """

    p: float = 0.2
    stratified: bool = True

    def __post_init__(self) -> None:
        check_probability("RandomGrayscale.p", self.p)

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw the ``(B,)`` mask of the samples to convert."""
        return apply_mask(batch_size, self.p, generator, self.stratified)

    def apply(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Convert the samples selected by ``mask``."""
        check_batch(x)
        return apply_to_subset(x, mask, lambda sub, _: rgb_to_grayscale(sub, num_output_channels=3))

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Convert a random subset of ``x``."""
        return self.apply(x, self.sample(x.shape[0], generator))


@dataclass(frozen=True)
class RandomSolarize:
    """Invert values at or above ``threshold`` in randomly chosen samples.

    Attributes:
        threshold: Threshold on [0, 1] values.
        p: Probability of solarising a sample.
        stratified: Stratified choice of the solarised samples (see :mod:`.params`).
    """

    threshold: float = 0.5
    p: float = 0.2
    stratified: bool = True

    def __post_init__(self) -> None:
        check_probability("RandomSolarize.p", self.p)
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"RandomSolarize.threshold must be in [0, 1], got {self.threshold}")

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw the ``(B,)`` mask of the samples to solarise."""
        return apply_mask(batch_size, self.p, generator, self.stratified)

    def apply(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Solarise the samples selected by ``mask``."""
        check_batch(x, channels=None)
        return apply_to_subset(x, mask, lambda sub, _: solarize(sub, self.threshold))

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Solarise a random subset of ``x``."""
        return self.apply(x, self.sample(x.shape[0], generator))
