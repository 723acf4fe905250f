"""Validation of loss inputs: shapes first (free), then finiteness (one device synchronisation at most)."""

from __future__ import annotations

import torch
from torch import Tensor


class NonFiniteInputError(ValueError):
    """A loss input holds NaN or infinite values (a ``ValueError``, so callers may catch either)."""


def check_matrix(name: str, tensor: Tensor) -> None:
    """Raise ``ValueError`` unless ``tensor`` is a floating-point 2-D tensor with at least one row."""
    if not isinstance(tensor, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows, dim), got shape {tuple(tensor.shape)}")
    if tensor.shape[0] == 0:
        raise ValueError(f"{name} is empty: shape {tuple(tensor.shape)}, expected at least one row")
    if not tensor.is_floating_point():
        raise ValueError(
            f"{name} must be a floating-point tensor, got dtype {tensor.dtype} (shape {tuple(tensor.shape)})"
        )


def check_pair(query: Tensor, key: Tensor) -> None:
    """Check that ``query`` and ``key`` are (B, D) tensors of the same shape."""
    check_matrix("query", query)
    check_matrix("key", key)
    if query.shape != key.shape:
        raise ValueError(
            f"query and key must have the same shape (B, D), got query {tuple(query.shape)} and key {tuple(key.shape)}"
        )


def check_bank(name: str, bank: Tensor | None, query: Tensor) -> None:
    """Check that an optional (K, D) bank of keys has the feature dimension of ``query``."""
    if bank is None:
        return
    check_matrix(name, bank)
    if bank.shape[1] != query.shape[1]:
        raise ValueError(
            f"{name} must have one key per row with dimension D={query.shape[1]} like query "
            f"{tuple(query.shape)}, got {name} {tuple(bank.shape)}"
        )


def check_all_keys(all_keys: Tensor | None, query: Tensor, rank: int) -> None:
    """Check that ``all_keys`` holds B·W keys of dimension D and that ``rank`` indexes one of the W blocks."""
    if all_keys is None:
        return
    check_bank("all_keys", all_keys, query)
    batch = query.shape[0]
    if all_keys.shape[0] % batch != 0:
        raise ValueError(
            f"all_keys must hold B·W rows (the global batch in rank order) with B={batch} from query "
            f"{tuple(query.shape)}, got all_keys {tuple(all_keys.shape)}"
        )
    world = all_keys.shape[0] // batch
    if not 0 <= rank < world:
        raise ValueError(
            f"rank={rank} is out of range for all_keys {tuple(all_keys.shape)} = {world} blocks of B={batch} rows"
        )


def check_finite(**tensors: Tensor | None) -> None:
    """Raise :class:`NonFiniteInputError` naming every tensor that holds NaN or infinite values.

    The happy path costs one reduction per tensor (a sum, which is NaN or infinite whenever an element is) and a single
    host synchronisation whatever the number of tensors; the element-wise check runs only to name the culprits.
    """
    present = {name: t.detach() for name, t in tensors.items() if t is not None}
    if not present:
        return
    device = next(iter(present.values())).device
    wide = torch.float64 if device.type == "cpu" else None
    sums = torch.stack([t.sum(dtype=wide).to(device) for t in present.values()])
    if bool(torch.isfinite(sums).all()):
        return
    bad = [f"{name} {tuple(t.shape)}" for name, t in present.items() if not bool(torch.isfinite(t).all())]
    if bad:
        raise NonFiniteInputError(f"non-finite values (NaN or inf) in {', '.join(bad)}")
