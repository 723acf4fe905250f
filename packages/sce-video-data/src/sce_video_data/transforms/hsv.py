"""Batched RGB <-> HSV conversion and hue rotation, matching torchvision's tensor kernels.

The channel dimension is dimension 1 (``(B, 3, H, W)`` or ``(B, 3, T, H, W)``).
"""

from __future__ import annotations

import torch

from sce_video_data.transforms.functional import check_batch, per_sample

__all__ = ["adjust_hue", "hsv_to_rgb", "rgb_to_hsv"]

# Rows: R, G, B; columns: sector i = floor(6 h) mod 6; entries index into (v, p, q, t).
_SECTOR_TO_VPQT = ((0, 2, 1, 1, 3, 0), (3, 0, 0, 2, 1, 1), (1, 1, 3, 0, 0, 2))


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """Convert RGB in [0, 1] to HSV in [0, 1] (hue as a fraction of a turn).

    Args:
        x: ``(B, 3, ...)`` RGB batch.

    Returns:
        ``(B, 3, ...)`` HSV batch; hue and saturation are 0 where the pixel is gray.
    """
    r, g, _ = x.unbind(dim=1)
    minc, maxc = torch.aminmax(x, dim=1)
    gray = maxc == minc
    ones = torch.ones_like(maxc)
    span = maxc - minc
    s = span / torch.where(gray, ones, maxc)
    divisor = torch.where(gray, ones, span).unsqueeze(1)
    rc, gc, bc = ((maxc.unsqueeze(1) - x) / divisor).unbind(dim=1)
    not_r = maxc != r
    is_g = maxc == g
    hr = (bc - gc) * ~not_r
    hg = (rc + 2.0 - bc) * (is_g & not_r)
    hb = (gc + 4.0 - rc) * (not_r & ~is_g)
    h = ((hr + hg + hb) / 6.0 + 1.0).fmod(1.0)
    return torch.stack((h, s, maxc), dim=1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Convert HSV in [0, 1] back to RGB in [0, 1].

    Args:
        x: ``(B, 3, ...)`` HSV batch.

    Returns:
        ``(B, 3, ...)`` RGB batch.
    """
    h, s, v = x.unbind(dim=1)
    h6 = h * 6.0
    sector = torch.floor(h6)
    f = h6 - sector
    sector = sector.to(torch.long).remainder_(6)
    p = ((1.0 - s) * v).clamp_(0.0, 1.0)
    q = ((1.0 - s * f) * v).clamp_(0.0, 1.0)
    t = ((1.0 - s + s * f) * v).clamp_(0.0, 1.0)
    vpqt = torch.stack((v, p, q, t), dim=1)
    table = torch.tensor(_SECTOR_TO_VPQT, dtype=torch.long, device=x.device)
    select = table[:, sector].movedim(0, 1)
    return vpqt.gather(1, select)


def adjust_hue(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Rotate the hue of each sample by its factor (a fraction of a turn in [-0.5, 0.5]).

    Equal to converting to HSV, adding the factor to the hue modulo 1 and converting back (torchvision's
    ``adjust_hue``), computed without materialising the HSV image: with ``v = max``, ``span = max - min`` and the
    rotated hue ``h`` in sixths of a turn, each channel is ``v - span * clamp(d - 1, 0, 1)`` where ``d`` is the
    circular distance from ``h`` to the channel's own hue (0 for red, 2 for green, 4 for blue).

    Args:
        x: ``(B, 3, ...)`` RGB batch in [0, 1].
        factor: ``(B,)`` hue shifts.

    Returns:
        Batch of the same shape and dtype.
    """
    check_batch(x)
    r, g, b = x.unbind(dim=1)
    maxc = torch.maximum(torch.maximum(r, g), b)
    span = maxc - torch.minimum(torch.minimum(r, g), b)
    inv = span.reciprocal().nan_to_num_(nan=0.0, posinf=0.0)  # gray pixels: span 0, hue 0 (any hue gives v)
    # Sector formulas, selected with float masks (faster than torch.where on CPU): red max, else green max, else blue.
    is_r = (maxc == r).to(x.dtype)
    is_g = (maxc == g).to(x.dtype).mul_(1.0 - is_r)
    hue6 = (r - g).mul_(inv).add_(4.0)
    hue6.add_(((b - r).mul_(inv).add_(2.0).sub_(hue6)).mul_(is_g))
    hue6.add_(((g - b).mul_(inv).sub_(hue6)).mul_(is_r))
    hue6.add_(per_sample(factor * 6.0, hue6))
    hue6.sub_(torch.floor(hue6 * (1.0 / 6.0)).mul_(6.0))  # modulo 6 (much cheaper than remainder on CPU)
    out = torch.empty_like(x)
    for channel, centre in enumerate((0.0, 2.0, 4.0)):
        # Circular distance (in sixths of a turn) between the hue and the channel's own hue, folded into [0, 3].
        dist = out[:, channel]
        torch.sub(hue6, centre, out=dist).abs_()
        torch.minimum(dist, 6.0 - dist, out=dist)
        dist.sub_(1.0).clamp_(0.0, 1.0).mul_(span).neg_().add_(maxc)
    return out
