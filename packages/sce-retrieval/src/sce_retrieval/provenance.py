"""What a retrieval result came from: the two banks (with the provenance hash their writer stored) and the search.

``sce-retrieval --json OUT`` writes it under ``"provenance"``. A bank written by ``sce extract-features`` keeps a
provenance record in its metadata (the shards' content hash, the checkpoint, versions, decoder); its ``hash`` is
carried here, so a recall table traces back to the data and the trunk.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path
from typing import Any

from sce_retrieval.bank import FeatureBank

__all__ = ["bank_record", "retrieval_provenance"]

VERSIONS = ("sce-retrieval", "numpy", "torch", "faiss-cpu", "faiss-gpu")


def bank_record(path: str | Path, bank: FeatureBank) -> dict[str, Any]:
    """``{"path", "sha256", "provenance_hash", "items", "dim"}`` of a bank file.

    ``provenance_hash`` is None when the bank's metadata holds no record.
    """
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            sha.update(block)
    record = (bank.metadata or {}).get("provenance") or {}
    return {
        "path": str(Path(path).absolute()),
        "sha256": sha.hexdigest(),
        "provenance_hash": record.get("hash") if isinstance(record, dict) else None,
        "items": len(bank),
        "dim": bank.dim,
    }


def retrieval_provenance(
    query: tuple[str | Path, FeatureBank], bank: tuple[str | Path, FeatureBank], backend: str, device: str
) -> dict[str, Any]:
    """The provenance record of one retrieval: both banks, the backend and device, the versions; with its ``hash``."""
    versions = {}
    for name in VERSIONS:
        if name.startswith("faiss") and backend != "faiss":
            continue  # recorded when used
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    record: dict[str, Any] = {
        "program": "sce-retrieval",
        "started_from": {"query": bank_record(*query), "bank": bank_record(*bank)},
        "backend": backend,
        "device": device,
        "versions": versions,
    }
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
    record["hash"] = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    return record
