"""What a shard folder holds, in one record: a content hash of the finished set and the parameters that built it.

The content hash is a SHA-256 over the checksums the manifest already keeps (every shard file's and every index
file's ``sha256``, in a fixed order), so it costs no read of the shards, it is the same for two builds that wrote the
same bytes, and any change of a frame, a label, a class name or an item changes it. ``sce-shards verify`` checks the
files against those checksums; the hash names the set they describe.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

__all__ = ["content_hash", "provenance_of_manifest", "shard_provenance"]


def content_hash(manifest: dict[str, Any]) -> str:
    """``sha256:<hex>`` of the shard set a manifest describes (its shard and index checksums, with their names)."""
    shards = [[str(s.get("name", i)), str(s["sha256"]), int(s["bytes"])] for i, s in enumerate(manifest["shards"])]
    index = sorted([name, str(d["sha256"]), int(d["bytes"])] for name, d in manifest.get("index", {}).items())
    canonical = json.dumps({"shards": shards, "index": index}, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def provenance_of_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """The provenance record of a manifest: content hash, build parameters, source, counts.

    Keys: ``content_hash``, ``format_version``, ``writer``, ``layout``, ``split`` (as given to the build; None if
    not recorded), ``short_side``, ``fps`` (None: native), ``quality``, ``source_root_name`` (the last component of
    the folder the inputs were read from: the name says which copy, the full path is in the manifest),
    ``num_inputs``, ``num_items``, ``num_failures``, ``num_classes``, ``num_frames``.
    """
    params = manifest.get("parameters", {})
    source = str(manifest.get("source_root", ""))
    return {
        "content_hash": content_hash(manifest),
        "format_version": manifest.get("format_version"),
        "writer": manifest.get("writer"),
        "layout": params.get("layout"),
        "split": manifest.get("split"),
        "short_side": params.get("short_side"),
        "fps": params.get("fps"),
        "quality": params.get("quality"),
        "source_root_name": Path(source).name if source else None,
        "num_inputs": manifest.get("num_inputs"),
        "num_items": manifest.get("num_items"),
        "num_failures": manifest.get("num_failures"),
        "num_classes": len(manifest.get("class_names", [])),
        "num_frames": manifest.get("num_frames"),
    }


def shard_provenance(path: str | Path) -> dict[str, Any]:
    """The provenance record of the shard folder ``path`` (see :func:`provenance_of_manifest`).

    Folders built before the record existed get it too: it is computed from their manifest.

    Raises:
        FileNotFoundError: ``path`` is not a complete shard folder.
        ValueError: its manifest is damaged.
    """
    from sce_video_data.shards.check import load_manifest

    return provenance_of_manifest(load_manifest(path))
