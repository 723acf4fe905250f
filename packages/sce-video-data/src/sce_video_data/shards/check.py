"""Inspect and verify a shard folder: ``sce-shards info`` and ``sce-shards verify``."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import numpy as np

from sce_video_data.shards.format import MANIFEST_FILE, PLAN_FILE, ShardIndex, shard_file
from sce_video_data.shards.reader import ShardReader

__all__ = [
    "build_parameters",
    "load_manifest",
    "low_resolution_warning",
    "shard_info",
    "stored_short_side",
    "verify_shards",
]

_BLOCK = 1 << 22
_IMAGE_ENCODER = "encode_image_item"


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
    """Counts of a shard folder, what its build stored, and problems found by a size check.

    Returns:
        A dict: ``path``, ``format_version``, ``kind`` (``"videos"`` or ``"images"``), ``items``, ``classes``,
        ``frames``, ``bytes`` (all shard files), ``shards``, ``failures``, ``parameters`` (the build's, as recorded),
        ``duration`` (seconds of video stored, the sum of the items' durations; None for images),
        ``bytes_per_second`` (``bytes / duration``; None for images or no duration), ``short_side`` (see
        :func:`stored_short_side`; None if unknown), ``fps`` (the build's ``--fps``; None: native),
        ``quality`` (the build's JPEG quality; None if not recorded) and ``problems``.
    """
    path = Path(path)
    manifest = load_manifest(path)
    params = dict(manifest["parameters"])
    images = _is_image_build(params)
    duration = None if images else float(sum(float(item["duration"]) for item in manifest["items"]))
    total = int(manifest["total_bytes"])
    try:
        short_side = stored_short_side(path, params)
    except (FileNotFoundError, ValueError):  # a damaged index: reported by `verify`
        short_side = None
    return {
        "path": str(path),
        "format_version": manifest["format_version"],
        "kind": "images" if images else "videos",
        "items": manifest["num_items"],
        "classes": len(manifest["class_names"]),
        "frames": manifest["num_frames"],
        "bytes": total,
        "shards": len(manifest["shards"]),
        "failures": manifest["num_failures"],
        "parameters": params,
        "duration": duration,
        "bytes_per_second": total / duration if duration else None,
        "short_side": short_side,
        "fps": params.get("fps"),
        "quality": params.get("quality"),
        "problems": _shard_problems(path, manifest, checksums=False),
    }


def build_parameters(path: str | Path) -> dict[str, Any]:
    """The build parameters of the complete shard folder ``path`` (``short_side``, ``fps``, ``quality``, ``layout``...).

    They are read from ``plan.json``, a small file holding the same settings as the manifest, when it is there, else
    from ``manifest.json`` (which also lists every item, tens of MB for Kinetics-400).

    Raises:
        FileNotFoundError: Not a complete shard folder.
        ValueError: A damaged manifest.
    """
    path, settings = Path(path), None
    if (path / MANIFEST_FILE).is_file() and (path / PLAN_FILE).is_file():
        try:
            settings = json.loads((path / PLAN_FILE).read_text(encoding="utf-8")).get("settings")
        except json.JSONDecodeError:
            settings = None
    if isinstance(settings, dict):
        return dict(settings)
    return dict(load_manifest(path)["parameters"])


def stored_short_side(path: str | Path, parameters: dict[str, Any] | None = None) -> int | None:
    """Short side in pixels of the frames stored in the shard folder ``path``; None if it holds no item.

    Videos built with ``--short-side N`` (N > 0) are all stored at short side N (larger or smaller than the source),
    so the answer is N, the recorded build parameter. Images are never enlarged (an image smaller than N keeps its
    size, see :func:`sce_video_data.indexes.images.stored_image_size`), and ``--short-side 0`` keeps every source
    size, so for those (and for folders without recorded parameters) the answer is the median short side of the
    stored items, from the index.

    Args:
        path: A complete shard folder.
        parameters: Its build parameters, if already read (:func:`build_parameters`).

    Raises:
        FileNotFoundError: Not a complete shard folder.
        ValueError: A damaged manifest or index.
    """
    params = build_parameters(path) if parameters is None else parameters
    side = params.get("short_side")
    if side and not _is_image_build(params):
        return int(side)
    index = ShardIndex.load(path)
    if not len(index):
        return None
    sides = np.minimum(index.arrays["item_width"], index.arrays["item_height"])
    return int(np.percentile(sides, 50, method="lower"))


def low_resolution_warning(path: str | Path, needed: int, what: str) -> str | None:
    """One line when the shard folder ``path`` stores frames with a short side smaller than ``needed``, else None.

    The line names the folder, the stored short side, what needs more (``what``, e.g. "pretraining with
    data.crop_size=224") and the ``sce-shards build`` flag that stores enough. A build that kept the source size
    (``--short-side 0``), or capped images at ``needed`` or more, is never reported: rebuilding cannot add detail
    the source does not have. A folder that cannot be read gives None (the program reading it reports that).

    Args:
        path: A shard folder.
        needed: The smallest short side the recipe assumes, in pixels.
        what: What needs it, for the message.
    """
    try:
        params = build_parameters(path)
        stored = stored_short_side(path, params)
    except (FileNotFoundError, ValueError):
        return None
    cap = params.get("short_side")
    if stored is None or stored >= needed or (cap is not None and (cap == 0 or cap >= needed)):
        return None
    return (
        f"{path}: shards store frames at short side {stored}, but {what} assumes a short side of at least {needed}; "
        f"rebuild them with `sce-shards build ... --short-side {needed}`"
    )


def _is_image_build(params: dict[str, Any]) -> bool:
    return params.get("encoder") == _IMAGE_ENCODER or params.get("layout") == "imagefolder"


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
