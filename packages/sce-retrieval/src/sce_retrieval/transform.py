"""Per-set preprocessing of features (SPEC 5.5): centring on the set's own mean, then L2 normalisation.

The transform is applied chunk by chunk, so a bank of millions of vectors is never copied as a whole.

Degenerate sets are refused (:func:`check_degenerate`): rows left without a direction by the set's preprocessing
(zero, or near zero relative to the set's scale, after centring; zero before normalising) and banks whose rows are
all the same (a collapsed model), since their neighbours and R@k would only reflect the order of tied scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# Rows per chunk when reducing a large matrix (mean); bounds the float64 temporary to ~256 MiB at D=512.
_MEAN_CHUNK_ROWS = 65536
# Norms below this are treated as zero (the row is left as all zeros instead of dividing by ~0).
_EPS = 1e-12
# A row is degenerate when its norm after centring (or before normalising) is at most this fraction of the set's
# scale, the root mean square of its row norms before centring: ~8 float32 ulps, ~2 float16 ulps.
DEGENERATE_RTOL = {np.dtype(np.float32): 1e-6, np.dtype(np.float16): 2e-3}


@dataclass(frozen=True, eq=False)
class RowTransform:
    """Centring and normalisation applied to every row of one feature set.

    Attributes:
        mean: Vector subtracted from every row (float32, shape ``(D,)``), or ``None`` for no centring.
        normalize: Divide every (centred) row by its L2 norm.
    """

    mean: np.ndarray | None = None
    normalize: bool = False

    def apply_numpy(self, chunk: np.ndarray) -> np.ndarray:
        """Return the transformed rows as a new C-contiguous float32 array."""
        out = np.array(chunk, dtype=np.float32, copy=True, order="C")
        if self.mean is not None:
            out -= self.mean
        if self.normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out /= np.maximum(norms, _EPS)
        return out

    def apply_torch(self, chunk: torch.Tensor) -> torch.Tensor:
        """Return the transformed rows as a float32 tensor on the chunk's device."""
        out = chunk.to(torch.float32)
        if self.mean is not None:
            out = out - torch.as_tensor(self.mean, device=out.device)
        if self.normalize:
            out = out / out.norm(dim=1, keepdim=True).clamp_min(_EPS)
        return out


def column_mean(features: np.ndarray) -> np.ndarray:
    """Mean of the rows of ``features``, accumulated in float64 chunk by chunk and returned as float32.

    Args:
        features: Array of shape ``(N, D)`` with ``N >= 1``.

    Returns:
        The mean, shape ``(D,)``.
    """
    total = np.zeros(features.shape[1], dtype=np.float64)
    for start in range(0, features.shape[0], _MEAN_CHUNK_ROWS):
        total += features[start : start + _MEAN_CHUNK_ROWS].sum(axis=0, dtype=np.float64)
    return (total / features.shape[0]).astype(np.float32)


def make_transform(
    features: np.ndarray, *, center: bool, normalize: bool, name: str = "features", bank: bool = False
) -> RowTransform:
    """Build the transform of one set: centred on its own mean when ``center``, then L2-normalised when ``normalize``.

    The set is checked first (:func:`check_degenerate`).

    Args:
        features: The set, shape ``(N, D)``.
        center: Subtract the set's own mean (SPEC 5.5: queries and bank are each centred by their own mean).
        normalize: L2-normalise every row after centring.
        name: Name of the set in error messages (e.g. ``"bank_features"``).
        bank: The set is the searched bank (a constant bank is refused even without centring).

    Returns:
        The transform.

    Raises:
        ValueError: The set is degenerate (see :func:`check_degenerate`).
    """
    mean = column_mean(features)
    check_degenerate(features, mean, center=center, normalize=normalize, name=name, bank=bank)
    return RowTransform(mean=mean if center else None, normalize=normalize)


def check_degenerate(
    features: np.ndarray, mean: np.ndarray, *, center: bool, normalize: bool, name: str, bank: bool
) -> None:
    """Refuse a set whose rows carry no direction after its preprocessing, or a bank whose rows are all the same.

    A row is degenerate when its norm after centring (``center``), or its norm itself (``normalize`` without
    centring), is at most ``DEGENERATE_RTOL[dtype]`` times the set's scale (root mean square row norm before
    centring). With 2 or more rows all equal to the set's mean, a bank is refused whatever the preprocessing: every
    similarity ties and the ranking is the tie order. Without centring or normalisation a query set is not checked.

    Args:
        features: The set, shape ``(N, D)``, ``N >= 1``.
        mean: Its mean (:func:`column_mean`).
        center: The set is centred on its mean.
        normalize: Its rows are L2-normalised.
        name: Name of the set in error messages.
        bank: The set is the searched bank.

    Raises:
        ValueError: Naming the set, how many rows are degenerate and what it means.
    """
    raw, centred = _row_norms(features, mean)
    rtol = DEGENERATE_RTOL.get(features.dtype, DEGENERATE_RTOL[np.dtype(np.float32)])
    tolerance = rtol * _scale(raw)
    n = features.shape[0]
    if n > 1 and (bank or center) and bool((centred <= tolerance).all()):
        raise ValueError(
            f"{name}: {n:,} of {n:,} rows equal the set's mean (relative tolerance {rtol:g}): the features are "
            "constant: the model collapsed (every similarity would tie)"
        )
    if not (center or normalize):
        return
    bad = int(np.count_nonzero((centred if center else raw) <= tolerance))
    if bad:
        raise ValueError(_degenerate_message(name, bad, n, center, rtol))


def _row_norms(features: np.ndarray, mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Norms of every row before and after subtracting ``mean`` (float64, computed chunk by chunk)."""
    raw = np.empty(features.shape[0], dtype=np.float64)
    centred = np.empty(features.shape[0], dtype=np.float64)
    for start in range(0, features.shape[0], _MEAN_CHUNK_ROWS):
        chunk = np.asarray(features[start : start + _MEAN_CHUNK_ROWS], dtype=np.float32)
        raw[start : start + chunk.shape[0]] = np.linalg.norm(chunk, axis=1)
        centred[start : start + chunk.shape[0]] = np.linalg.norm(chunk - mean, axis=1)
    return raw, centred


def _scale(norms: np.ndarray) -> float:
    """Root mean square of the row norms."""
    return float(np.sqrt(np.mean(np.square(norms))))


def _degenerate_message(name: str, count: int, total: int, center: bool, rtol: float) -> str:
    what = "zero after centring on the set's own mean" if center else "zero"
    text = (
        f"{name}: {count:,} of {total:,} rows are {what} (relative tolerance {rtol:g}): they have no direction, "
        "so all their similarities would tie"
    )
    if total == 1 and center:
        return f"{text} (a set of one row is always zero after centring: do not centre it)"
    if count == total:
        return f"{text}; the features are all zero: the model collapsed"
    return text
