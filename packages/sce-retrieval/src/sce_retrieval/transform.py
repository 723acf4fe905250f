"""Per-set preprocessing of features (SPEC 5.5): centring on the set's own mean, then L2 normalisation.

The transform is applied chunk by chunk, so a bank of millions of vectors is never copied as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# Rows per chunk when reducing a large matrix (mean); bounds the float64 temporary to ~256 MiB at D=512.
_MEAN_CHUNK_ROWS = 65536
# Norms below this are treated as zero (the row is left as all zeros instead of dividing by ~0).
_EPS = 1e-12


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


def make_transform(features: np.ndarray, *, center: bool, normalize: bool) -> RowTransform:
    """Build the transform of one set: centred on its own mean when ``center``, then L2-normalised when ``normalize``.

    Args:
        features: The set, shape ``(N, D)``.
        center: Subtract the set's own mean (SPEC 5.5: queries and bank are each centred by their own mean).
        normalize: L2-normalise every row after centring.

    Returns:
        The transform.
    """
    return RowTransform(mean=column_mean(features) if center else None, normalize=normalize)
