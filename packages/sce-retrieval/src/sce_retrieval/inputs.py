"""Validation and conversion of feature matrices, labels and neighbour counts.

Every public entry point of :mod:`sce_retrieval` funnels its arguments through these helpers so that bad input always
gets the same clear ``ValueError`` naming the argument, the value and what was expected.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float16))
# Rows checked for NaN/inf at a time, so that the check never allocates a mask as large as the whole bank.
_FINITE_CHECK_ROWS = 65536


def to_numpy(x: Any, name: str) -> np.ndarray:
    """Return ``x`` as a NumPy array (a torch tensor is detached and moved to the CPU, without a copy when possible).

    Args:
        x: A NumPy array, a torch tensor or anything ``np.asarray`` accepts.
        name: Argument name used in error messages.

    Returns:
        The array.
    """
    if isinstance(x, torch.Tensor):
        x = x.detach()
        if x.dtype == torch.bfloat16:
            x = x.float()
        return x.cpu().numpy()
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: cannot convert {type(x).__name__} to an array ({err})") from err


def as_features(x: Any, name: str, *, dim: int | None = None, allow_empty: bool = False) -> np.ndarray:
    """Validate a feature matrix and return it as a C-contiguous float32 or float16 array.

    float16 stays float16 (banks may be stored in half precision); other floating types become float32.

    Args:
        x: Features of shape ``(N, D)``.
        name: Argument name used in error messages.
        dim: Expected feature dimension ``D``, if known.
        allow_empty: Accept ``N == 0``.

    Returns:
        The validated array.

    Raises:
        ValueError: Wrong rank, non-floating dtype, dimension mismatch, empty input or NaN/inf values.
    """
    arr = to_numpy(x, name)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D (N, D) feature matrix, got shape {tuple(arr.shape)}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{name}: expected floating-point features (float32 or float16), got dtype {arr.dtype}")
    if arr.dtype not in FLOAT_DTYPES:
        arr = arr.astype(np.float32)
    arr = np.ascontiguousarray(arr)
    if arr.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name}: is empty (0 rows); at least one feature vector is required")
    if arr.shape[1] == 0:
        raise ValueError(f"{name}: feature dimension is 0")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{name}: feature dimension {arr.shape[1]} does not match the expected dimension {dim}")
    check_finite(arr, name)
    return arr


def check_finite(arr: np.ndarray, name: str) -> None:
    """Raise ``ValueError`` naming the first offending row if ``arr`` holds NaN or infinite values.

    Args:
        arr: Array of shape ``(N, ...)``, checked in row chunks to bound memory.
        name: Argument name used in error messages.
    """
    for start in range(0, arr.shape[0], _FINITE_CHECK_ROWS):
        chunk = arr[start : start + _FINITE_CHECK_ROWS]
        if not np.isfinite(chunk).all():
            bad = np.flatnonzero(~np.isfinite(chunk).reshape(chunk.shape[0], -1).all(axis=1))[0] + start
            raise ValueError(f"{name}: row {bad} contains NaN or infinite values")


def as_labels(x: Any, name: str, *, length: int) -> np.ndarray:
    """Validate integer labels and return them as an int64 vector.

    Args:
        x: Labels of shape ``(N,)``; any integer values (they need not be ``0..C-1``).
        name: Argument name used in error messages.
        length: Expected ``N`` (the number of feature rows they belong to).

    Returns:
        The labels as ``np.int64``.
    """
    arr = to_numpy(x, name)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D label vector, got shape {tuple(arr.shape)}")
    if arr.shape[0] != length:
        raise ValueError(f"{name}: has {arr.shape[0]} labels but the features have {length} rows")
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
        raise ValueError(f"{name}: expected integer labels, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def check_k(k: Any, bank_size: int, name: str = "k") -> int:
    """Validate a neighbour count: a positive integer no larger than the bank.

    Args:
        k: The neighbour count.
        bank_size: Number of bank items.
        name: Argument name used in error messages.

    Returns:
        ``k`` as an ``int``.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise ValueError(f"{name}: expected a positive integer, got {k!r}")
    if k < 1:
        raise ValueError(f"{name}: expected a positive integer, got {k}")
    if k > bank_size:
        raise ValueError(f"{name}={k} is larger than the bank ({bank_size} items)")
    return int(k)


def check_ks(ks: Iterable[Any] | int, bank_size: int) -> list[int]:
    """Validate a collection of neighbour counts and return them sorted and deduplicated.

    Args:
        ks: One or several neighbour counts.
        bank_size: Number of bank items.

    Returns:
        The sorted distinct counts.
    """
    values: Sequence[Any] = [ks] if isinstance(ks, int | np.integer) else list(ks)
    if len(values) == 0:
        raise ValueError("ks: expected at least one neighbour count, got an empty collection")
    return sorted({check_k(k, bank_size, name="ks") for k in values})
