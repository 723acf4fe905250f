"""Batched Gaussian blur with one sigma per sample (SPEC 3.3 and 4.3: kernel 23, sigma in [0.1, 2.0]).

The blur is separable: a horizontal then a vertical 1-D pass. Each pass multiplies by a per-sample banded
matrix that holds the kernel with torchvision's reflected borders folded in (``out = M_h @ frame @ M_w^T``), so
every sample gets its own kernel in one batched matrix product. On CPU this is 3-15x faster than a grouped
``conv2d`` with per-sample kernels (measured at 8 x 112^2 clips), and on GPU it runs as plain GEMMs. The result
equals ``torchvision.transforms.v2.functional.gaussian_blur`` per sample and per frame to ~1e-6 (with TF32 matmuls
enabled on CUDA, ``torch.backends.cuda.matmul.allow_tf32``, the error grows to ~1e-3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from sce_video_data.transforms.functional import check_batch
from sce_video_data.transforms.params import apply_mask, check_probability, uniform
from sce_video_data.transforms.subset import apply_to_subset

__all__ = ["GaussianBlur", "gaussian_blur", "gaussian_kernels1d", "reflect_blur_matrices"]


def gaussian_kernels1d(kernel_size: int, sigma: torch.Tensor) -> torch.Tensor:
    """Normalised 1-D Gaussian kernels, one per sigma, sampled as torchvision does.

    Args:
        kernel_size: Odd kernel length.
        sigma: ``(B,)`` standard deviations in pixels.

    Returns:
        ``(B, kernel_size)`` kernels that sum to one.
    """
    lim = (kernel_size - 1) / (2.0 * math.sqrt(2.0))
    x = torch.linspace(-lim, lim, steps=kernel_size, dtype=sigma.dtype, device=sigma.device)
    return torch.softmax((x / sigma[:, None]).pow(2).neg(), dim=1)


def _check_kernel(kernel_size: int, height: int, width: int) -> None:
    if kernel_size <= 0 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size}")
    if kernel_size // 2 >= min(height, width):
        raise ValueError(
            f"kernel_size {kernel_size} needs frames larger than {kernel_size // 2} pixels, got {height}x{width}"
        )


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, kernel_size: int = 23) -> torch.Tensor:
    """Blur each sample with its own isotropic Gaussian.

    Args:
        x: Float batch ``(B, C, H, W)`` or ``(B, C, T, H, W)``.
        sigma: ``(B,)`` positive standard deviations.
        kernel_size: Odd kernel length (the same in both directions).

    Returns:
        Blurred batch, same shape and dtype.
    """
    check_batch(x, channels=None)
    _check_kernel(kernel_size, x.shape[-2], x.shape[-1])
    if sigma.shape != (x.shape[0],) or bool((sigma <= 0).any()):
        raise ValueError(f"sigma must hold {x.shape[0]} positive values, got {sigma.tolist()}")
    b, (height, width) = x.shape[0], x.shape[-2:]
    kernels = gaussian_kernels1d(kernel_size, sigma.to(device=x.device, dtype=x.dtype))
    rows = reflect_blur_matrices(kernels, width)  # (B, W, W)
    cols = reflect_blur_matrices(kernels, height)  # (B, H, H)
    out = torch.bmm(x.reshape(b, -1, width), rows.transpose(1, 2)).view(b, -1, height, width)  # horizontal pass
    return _vertical_pass(cols, out).reshape(x.shape)


def _vertical_pass(cols: torch.Tensor, planes: torch.Tensor) -> torch.Tensor:
    """``cols[b] @ planes[b, i]`` for every plane ``i`` of every sample ``b``."""
    if planes.device.type != "cpu":
        return cols.unsqueeze(1) @ planes
    out = torch.empty_like(planes)
    for i in range(planes.shape[0]):  # per sample on CPU: no expanded copy of the matrix, stays in cache
        torch.matmul(cols[i], planes[i], out=out[i])
    return out


def reflect_blur_matrices(kernels: torch.Tensor, size: int) -> torch.Tensor:
    """Matrices ``M`` such that ``M @ v`` is the 1-D convolution of ``v`` with a kernel, borders reflected.

    Args:
        kernels: ``(B, K)`` odd-length kernels, ``K // 2 < size``.
        size: Length of the vectors to blur.

    Returns:
        ``(B, size, size)``: row ``j`` holds the kernel centred on ``j``, reflected taps folded back inside.
    """
    n, k = kernels.shape
    half = k // 2
    offsets = torch.arange(-half, half + 1, device=kernels.device)
    taps = (torch.arange(size, device=kernels.device)[:, None] + offsets).abs()  # reflect at 0
    taps = torch.where(taps > size - 1, 2 * (size - 1) - taps, taps)  # reflect at size - 1
    matrices = torch.zeros(n, size, size, dtype=kernels.dtype, device=kernels.device)
    return matrices.scatter_add_(2, taps.expand(n, size, k), kernels[:, None, :].expand(n, size, k))


@dataclass(frozen=True)
class GaussianBlur:
    """Randomly blur samples, sigma drawn uniformly per sample (the same for every frame of a clip).

    Attributes:
        kernel_size: Odd kernel length.
        sigma: Range ``(min, max)`` of the uniform sigma draw.
        p: Probability of blurring a sample.
        stratified: Stratified choice of the blurred samples (see :mod:`.params`).
    """

    kernel_size: int = 23
    sigma: tuple[float, float] = (0.1, 2.0)
    p: float = 0.5
    stratified: bool = True

    def __post_init__(self) -> None:
        check_probability("GaussianBlur.p", self.p)
        if self.kernel_size <= 0 or self.kernel_size % 2 == 0:
            raise ValueError(f"GaussianBlur.kernel_size must be a positive odd integer, got {self.kernel_size}")
        if not 0.0 < self.sigma[0] <= self.sigma[1]:
            raise ValueError(f"GaussianBlur.sigma must satisfy 0 < min <= max, got {self.sigma}")

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw the ``(B,)`` sigmas, 0 for the samples that are not blurred."""
        mask = apply_mask(batch_size, self.p, generator, self.stratified)
        sigma = uniform(self.sigma[0], self.sigma[1], batch_size, generator)
        return sigma * mask

    def apply(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """Blur each sample with its sigma (samples with sigma 0 are left as they are)."""
        check_batch(x, channels=None)
        return apply_to_subset(x, sigma > 0, lambda sub, idx: gaussian_blur(sub, sigma[idx], self.kernel_size))

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Blur a random subset of ``x`` (see the class docstring)."""
        return self.apply(x, self.sample(x.shape[0], generator))
