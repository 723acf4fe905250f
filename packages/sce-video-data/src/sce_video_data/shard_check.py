"""Inspect and verify a shard folder: ``sce-shards info`` and ``sce-shards verify``."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

from sce_video_data.shard_format import MANIFEST_FILE, shard_file
from sce_video_data.shard_reader import ShardReader

__all__ = ["load_manifest", "shard_info", "verify_shards"]

_BLOCK = 1 << 22


def load_manifest(path: str | Path) -> dict[str, Any]:
    """Read ``manifest.json`` of the shard folder ``path``.

    Raises:
        FileNotFoundError: No manifest (not a shard folder, or a build that never finished).
        ValueError: The manifest is not valid JSON.
    """
    manifest_path = Path(path) / MANIFEST_FILE
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{path}: not a complete shard folder (no {MANIFEST_FILE}); run or resume the build")
    try:
        return dict(json.loads(manifest_path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as err:
        raise ValueError(f"{manifest_path}: damaged manifest ({err})") from err


def _shard_problems(path: Path, manifest: dict[str, Any], checksums: bool) -> list[str]:
    problems = []
    for number, record in enumerate(manifest["shards"]):
        file = shard_file(path, number)
        if not file.is_file():
            problems.append(f"missing shard file {file}")
            continue
        size = file.stat().st_size
        if size != record["bytes"]:
            problems.append(f"shard {file.name}: {size} bytes, manifest says {record['bytes']}")
            continue
        if checksums:
            digest = hashlib.sha256()
            with open(file, "rb") as handle:
                while block := handle.read(_BLOCK):
                    digest.update(block)
            if digest.hexdigest() != record["sha256"]:
                problems.append(f"shard {file.name}: sha256 mismatch (damaged file)")
    return problems


def shard_info(path: str | Path) -> dict[str, Any]:
    """Counts of a shard folder (items, classes, frames, bytes, failures) and problems found by a size check."""
    path = Path(path)
    manifest = load_manifest(path)
    return {
        "path": str(path),
        "format_version": manifest["format_version"],
        "items": manifest["num_items"],
        "classes": len(manifest["class_names"]),
        "frames": manifest["num_frames"],
        "bytes": manifest["total_bytes"],
        "shards": len(manifest["shards"]),
        "failures": manifest["num_failures"],
        "parameters": manifest["parameters"],
        "problems": _shard_problems(path, manifest, checksums=False),
    }


def verify_shards(path: str | Path, samples: int = 64, seed: int = 0) -> list[str]:
    """Check every shard's size and sha256 and decode ``samples`` random frames; return the problems found."""
    path = Path(path)
    manifest = load_manifest(path)
    problems = _shard_problems(path, manifest, checksums=True)
    try:
        reader = ShardReader(path)
    except (FileNotFoundError, ValueError) as err:
        return [*problems, f"index: {err}"]
    if len(reader) != manifest["num_items"]:
        problems.append(f"index has {len(reader)} items, manifest says {manifest['num_items']}")
    rng = random.Random(seed)
    for _ in range(min(samples, manifest["num_frames"]) if len(reader) else 0):
        item = rng.randrange(len(reader))
        frame = rng.randrange(reader.item(item).num_frames)
        try:
            reader.read_frames(item, [frame])
        except (RuntimeError, ValueError, FileNotFoundError) as err:
            problems.append(f"item {item} frame {frame}: cannot decode ({err})")
    return problems
