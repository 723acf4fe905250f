"""``RandomHorizontalFlip`` and ``Normalize`` on float batches, and the uint8 -> float conversion of the GPU stage."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sce_video_data.transforms.functional import check_batch, hflip
from sce_video_data.transforms.params import apply_mask, check_probability
from sce_video_data.transforms.subset import apply_to_subset

__all__ = ["Normalize", "RandomHorizontalFlip", "to_float_batch"]


def to_float_batch(x: torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """Turn a collated uint8 channels-last batch into a float channels-first batch in [0, 1].

    This is the "/255" first step of SPEC 3.3 and 4.3. The uint8 data is moved to ``device`` first (four times fewer
    bytes than float), then converted there.

    Args:
        x: uint8 clips ``(B, T, H, W, C)`` or images ``(B, H, W, C)``, as the loaders collate them.
        device: Target device (``None``: stay where ``x`` is).

    Returns:
        Contiguous float32 ``(B, C, T, H, W)`` or ``(B, C, H, W)``.
    """
    if x.dtype != torch.uint8 or x.ndim not in (4, 5):
        raise ValueError(
            f"expected uint8 clips (B, T, H, W, C) or images (B, H, W, C), got dtype {x.dtype} shape {tuple(x.shape)}"
        )
    if device is not None:
        x = x.to(device, non_blocking=True)
    dims = (0, 4, 1, 2, 3) if x.ndim == 5 else (0, 3, 1, 2)
    out = x.permute(dims).to(dtype=torch.float32, memory_format=torch.contiguous_format)
    return out.div_(255.0)


@dataclass(frozen=True)
class RandomHorizontalFlip:
    """Flip randomly chosen samples left-right (every frame of a clip alike).

    Attributes:
        p: Probability of flipping a sample.
        stratified: Stratified choice of the flipped samples (see :mod:`.params`).
    """

    p: float = 0.5
    stratified: bool = True

    def __post_init__(self) -> None:
        check_probability("RandomHorizontalFlip.p", self.p)

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw the ``(B,)`` mask of the samples to flip."""
        return apply_mask(batch_size, self.p, generator, self.stratified)

    def apply(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Flip the samples selected by ``mask``."""
        check_batch(x, channels=None)
        return apply_to_subset(x, mask, lambda sub, _: hflip(sub))

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Flip a random subset of ``x``."""
        return self.apply(x, self.sample(x.shape[0], generator))


@dataclass(frozen=True)
class Normalize:
    """Subtract a per-channel mean and divide by a per-channel std.

    Attributes:
        mean: One value per channel.
        std: One positive value per channel.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std) or not self.mean:
            raise ValueError(f"Normalize.mean and .std must have the same non-zero length, got {self.mean}, {self.std}")
        if any(s <= 0 for s in self.std):
            raise ValueError(f"Normalize.std must be positive, got {self.std}")

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> None:
        """No random parameters (for the uniform ``sample`` / ``apply`` interface)."""
        return None

    def apply(self, x: torch.Tensor, params: None = None) -> torch.Tensor:
        """Normalise ``x``."""
        return self(x)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Normalise ``x`` (``generator`` is accepted for a uniform interface and unused)."""
        check_batch(x, channels=len(self.mean))
        shape = (1, len(self.mean)) + (1,) * (x.ndim - 2)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(shape)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(shape)
        return (x - mean) / std
