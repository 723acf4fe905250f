"""Per-sample random parameters for the batched augmentations.

Every batched transform draws its parameters from a ``torch.Generator`` on the generator's own device (CPU by default)
and then moves them to the data's device, so that the same seed gives the same augmentation on CPU and on CUDA.

Probabilities follow one of two rules (SPEC 3.3):

* ``stratified=True`` (the default, as torchaug in the authors' code): a transform with probability ``p`` is applied
  to exactly ``floor(p * B)`` or ``ceil(p * B)`` samples of a batch of ``B``, chosen uniformly at random; the extra
  sample is taken with probability ``p * B - floor(p * B)`` so that every sample is still selected with probability
  exactly ``p``.
* ``stratified=False``: an independent Bernoulli(``p``) draw per sample.
"""

from __future__ import annotations

import math

import torch

__all__ = ["apply_mask", "check_probability", "uniform"]


def check_probability(name: str, p: float) -> None:
    """Raise ``ValueError`` unless ``0 <= p <= 1``.

    Args:
        name: Name of the field, used in the message.
        p: Probability to check.
    """
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")


def _generator_device(generator: torch.Generator | None) -> torch.device:
    return torch.device("cpu") if generator is None else generator.device


def uniform(
    low: float, high: float, n: int, generator: torch.Generator | None, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Draw ``n`` values uniformly in ``[low, high)``.

    Args:
        low: Lower bound.
        high: Upper bound.
        n: Number of values.
        generator: Source of randomness (``None``: the global CPU generator).
        device: Device of the returned tensor.

    Returns:
        Float32 tensor of shape ``(n,)`` on ``device``.
    """
    draws = torch.rand(n, generator=generator, device=_generator_device(generator))
    return (low + (high - low) * draws).to(device)


def apply_mask(
    batch_size: int,
    p: float,
    generator: torch.Generator | None,
    stratified: bool = True,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Choose which samples of a batch a transform with probability ``p`` is applied to.

    Args:
        batch_size: Number of samples ``B``.
        p: Probability of applying the transform to a sample.
        generator: Source of randomness (``None``: the global CPU generator).
        stratified: Apply to exactly ``floor(pB)`` or ``ceil(pB)`` samples (see the module docstring) instead of
            independent Bernoulli draws.
        device: Device of the returned mask.

    Returns:
        Boolean tensor of shape ``(B,)``.
    """
    check_probability("p", p)
    gen_device = _generator_device(generator)
    if p >= 1.0:
        return torch.ones(batch_size, dtype=torch.bool, device=device)
    if p <= 0.0:
        return torch.zeros(batch_size, dtype=torch.bool, device=device)
    if not stratified:
        return (torch.rand(batch_size, generator=generator, device=gen_device) < p).to(device)
    expected = p * batch_size
    count = math.floor(expected)
    extra = torch.rand(1, generator=generator, device=gen_device).item() < expected - count
    count += int(extra)
    order = torch.randperm(batch_size, generator=generator, device=gen_device)
    mask = torch.zeros(batch_size, dtype=torch.bool, device=gen_device)
    mask[order[:count]] = True
    return mask.to(device)
