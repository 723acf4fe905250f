"""Feature banks: features, labels, ids, class names, metadata and optional thumbnails in one file.

File format (version 1): an uncompressed NumPy ``.npz`` archive read with ``allow_pickle=False`` (nothing is ever
unpickled), holding

* ``features``: float32 or float16 ``(N, D)``;
* ``labels``: int64 ``(N,)``;
* ``ids``: fixed-width unicode ``(N,)``;
* ``header``: a 0-d unicode array with a JSON object ``{"format": "sce-feature-bank", "version": 1,
  "class_names": [...] | null, "metadata": {...}}``;
* ``thumbnails`` (optional): uint8 ``(N, h, w, 3)`` RGB images used by ``sce-retrieval --plot``.

Files are written through :func:`sce_retrieval.atomic.atomic_write` (an exclusively created temporary file in the
target folder, fsynced, then renamed), so a reader never sees a partial bank. :meth:`FeatureBank.load` first checks
that the file is a ``.npz`` archive holding the bank's fields and says plainly when it is not a bank file.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sce_retrieval.atomic import atomic_write
from sce_retrieval.inputs import as_features, as_labels, to_numpy

FORMAT_NAME = "sce-feature-bank"
FORMAT_VERSION = 1
_REQUIRED_FIELDS = ("features", "labels", "ids", "header")
_NOT_A_BANK = "not a feature bank file (a .npz written by FeatureBank.save or `sce extract-features`)"


@dataclass(eq=False)
class FeatureBank:
    """Features of N items with their labels, ids, class names, free metadata and optional thumbnails.

    Args:
        features: ``(N, D)`` float32 or float16 (other float types become float32); NumPy array or torch tensor.
        labels: ``(N,)`` integer labels (any values).
        ids: ``N`` strings identifying the items (e.g. video paths); defaults to ``"0" .. "N-1"``.
        class_names: Optional names of the classes (free list of strings; ``class_names[label]`` when labels are
            ``0..C-1``).
        metadata: Optional JSON-serialisable dictionary (model, checkpoint, split, ...).
        thumbnails: Optional ``(N, h, w, 3)`` uint8 RGB images.

    Raises:
        ValueError: Any field of the wrong type, shape or length.

    Examples:
        >>> import numpy as np
        >>> bank = FeatureBank(np.zeros((2, 4), np.float32), [3, 5], ids=["a.mp4", "b.mp4"])
        >>> len(bank), bank.dim
        (2, 4)
    """

    features: np.ndarray
    labels: np.ndarray
    ids: list[str] | None = None
    class_names: list[str] | None = None
    metadata: dict[str, Any] | None = field(default=None)
    thumbnails: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.features = as_features(self.features, "features", allow_empty=True)
        n = self.features.shape[0]
        self.labels = as_labels(self.labels, "labels", length=n)
        self.ids = _check_ids(self.ids, n)
        self.class_names = _check_class_names(self.class_names)
        self.metadata = _check_metadata(self.metadata)
        self.thumbnails = _check_thumbnails(self.thumbnails, n)

    def __len__(self) -> int:
        return int(self.features.shape[0])

    @property
    def dim(self) -> int:
        """Feature dimension ``D``."""
        return int(self.features.shape[1])

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the bank to ``path`` atomically (temporary file in the same folder, then rename).

        Args:
            path: Destination file (conventionally ``*.npz``); its folder must exist.

        Returns:
            The path written.
        """
        arrays: dict[str, np.ndarray] = {
            "features": self.features,
            "labels": self.labels,
            "ids": np.array(self.ids if self.ids else [], dtype=np.str_).reshape(len(self)),
            "header": np.array(json.dumps(self._header())),
        }
        if self.thumbnails is not None:
            arrays["thumbnails"] = self.thumbnails
        return atomic_write(path, lambda f: np.savez(f, allow_pickle=False, **arrays))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FeatureBank:
        """Read a bank written by :meth:`save` (never unpickles anything).

        Args:
            path: The bank file.

        Returns:
            The bank.

        Raises:
            FileNotFoundError: No such file. ValueError: Not a bank file (not a ``.npz`` archive, or one without the
                bank's fields: the message says so and names the file), or a field is malformed or pickled (the
                message names the file and the field).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: feature bank file not found")
        fields = _read_fields(path)
        header = _parse_header(fields["header"], path)
        try:
            return cls(
                features=fields["features"],
                labels=fields["labels"],
                ids=[str(x) for x in fields["ids"].reshape(-1)],
                class_names=header.get("class_names"),
                metadata=header.get("metadata"),
                thumbnails=fields.get("thumbnails"),
            )
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from err

    def _header(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "class_names": self.class_names,
            "metadata": self.metadata or {},
        }


def check_same_classes(query_names: list[str] | None, bank_names: list[str] | None, query: str, bank: str) -> None:
    """Refuse to compare two banks whose class names differ (their labels would be matched by number alone).

    Banks without class names are not checked.

    Args:
        query_names: Class names of the query bank (or ``None``).
        bank_names: Class names of the searched bank (or ``None``).
        query: How to name the query bank in the message (e.g. its path).
        bank: How to name the searched bank in the message.

    Raises:
        ValueError: Naming the first differing label and both names, or both lengths.
    """
    if query_names is None or bank_names is None or query_names == bank_names:
        return
    for label, (q, b) in enumerate(zip(query_names, bank_names, strict=False)):
        if q != b:
            raise ValueError(
                f"{query} and {bank} have different class_names: label {label} is {q!r} in the query bank but "
                f"{b!r} in the bank (labels are compared by number, so both must use the same class list)"
            )
    raise ValueError(
        f"{query} has {len(query_names)} class_names but {bank} has {len(bank_names)} (the first "
        f"{min(len(query_names), len(bank_names))} agree; labels are compared by number, so both must use the same "
        "class list)"
    )


def _read_fields(path: Path) -> dict[str, np.ndarray]:
    """Every array of the bank file ``path``, refusing anything that is not a pickle-free bank ``.npz``."""
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as handle:
            npy = handle.read(6) == b"\x93NUMPY"
        what = "a single .npy array" if npy else "not a .npz (zip) archive, or it is truncated"
        raise ValueError(f"{path}: {_NOT_A_BANK}: the file is {what}")
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: {_NOT_A_BANK}: {err}") from err
    with archive:
        missing = [name for name in _REQUIRED_FIELDS if name not in archive.files]
        if missing:
            raise ValueError(
                f"{path}: {_NOT_A_BANK}: missing field(s) {missing}; a feature bank holds {list(_REQUIRED_FIELDS)}"
            )
        fields = {}
        for name in archive.files:
            try:
                fields[name] = archive[name]
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
                raise ValueError(f"{path}: not a readable feature bank: field {name!r}: {err}") from err
    return fields


def _parse_header(raw: np.ndarray, path: Path) -> dict[str, Any]:
    if raw.dtype.kind != "U" or raw.ndim != 0:
        raise ValueError(f"{path}: field 'header' must be a JSON string, got dtype {raw.dtype} shape {raw.shape}")
    try:
        header = json.loads(str(raw))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: field 'header' is not valid JSON: {err}") from err
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ValueError(f"{path}: field 'header' does not describe a {FORMAT_NAME!r} file")
    if header.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: field 'header' has version {header.get('version')!r}, expected {FORMAT_VERSION}")
    return header


def _check_ids(ids: Any, n: int) -> list[str]:
    if ids is None:
        return [str(i) for i in range(n)]
    values = list(to_numpy(ids, "ids").reshape(-1)) if isinstance(ids, np.ndarray) else list(ids)
    if len(values) != n:
        raise ValueError(f"ids: has {len(values)} entries but the features have {n} rows")
    if not all(isinstance(v, str | np.str_) for v in values):
        raise ValueError("ids: expected strings")
    return [str(v) for v in values]


def _check_class_names(names: Any) -> list[str] | None:
    if names is None:
        return None
    values = list(names)
    if not all(isinstance(v, str | np.str_) for v in values):
        raise ValueError("class_names: expected a list of strings")
    return [str(v) for v in values]


def _check_metadata(metadata: Any) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise ValueError(f"metadata: expected a dict, got {type(metadata).__name__}")
    try:
        return dict(json.loads(json.dumps(metadata)))
    except (TypeError, ValueError) as err:
        raise ValueError(f"metadata: must be JSON-serialisable ({err})") from err


def _check_thumbnails(thumbnails: Any, n: int) -> np.ndarray | None:
    if thumbnails is None:
        return None
    arr = to_numpy(thumbnails, "thumbnails")
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[3] != 3:
        raise ValueError(f"thumbnails: expected uint8 (N, h, w, 3), got dtype {arr.dtype} shape {tuple(arr.shape)}")
    if arr.shape[0] != n:
        raise ValueError(f"thumbnails: has {arr.shape[0]} images but the features have {n} rows")
    return np.ascontiguousarray(arr)
