"""Inspect and verify a shard folder: ``sce-shards info`` and ``sce-shards verify``.

``info`` (quick): the counts recorded in the manifest, and the problems a size check finds: missing or resized shard
and index files, an index that does not open or is inconsistent. ``verify``: the sha256 of every shard and index
file, the index's consistency, and ``samples`` frames drawn without replacement, each checked against its CRC-32 and
decoded; ``verify --full``: every frame checked and decoded.
"""

from __future__ import annotations

import json
import random
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from sce_video_data.codecs.jpeg import decode_jpeg_frame, decode_jpeg_into, jpeg_tensor, simplejpeg_available
from sce_video_data.shards.format import (
    FAILURES_FILE,
    INDEX_DIR,
    MANIFEST_FILE,
    META_FILE,
    PLAN_FILE,
    ShardDamageError,
    ShardIndex,
    file_digest,
    index_arrays,
    shard_file,
)
from sce_video_data.shards.provenance import provenance_of_manifest
from sce_video_data.shards.reader import ShardReader

__all__ = [
    "MAX_FRAME_PROBLEMS",
    "build_parameters",
    "load_manifest",
    "low_resolution_warning",
    "shard_info",
    "stored_short_side",
    "verify_shards",
]

_IMAGE_ENCODER = "encode_image_item"
MAX_FRAME_PROBLEMS = 50  # damaged frames listed one by one by `verify`; the rest are counted
_VERIFY_ERRORS = (RuntimeError, ValueError, FileNotFoundError, IndexError)


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
        if checksums and file_digest(file)["sha256"] != record["sha256"]:
            problems.append(f"shard {file.name}: sha256 mismatch (damaged file)")
    return problems


def _index_problems(path: Path, manifest: dict[str, Any], checksums: bool) -> list[str]:
    """Missing index files, and the sizes (and with ``checksums`` the sha256) of those the manifest records."""
    folder = path / INDEX_DIR
    if not folder.is_dir():
        return [f"missing index folder {folder} (run or resume the build)"]
    records: dict[str, Any] = manifest.get("index") or {}  # format 1 manifests record no index checksums
    names = list(records) or [META_FILE, *(f"{name}.npy" for name in index_arrays(manifest["format_version"]))]
    problems = []
    for name in names:
        file = folder / name
        if not file.is_file():
            problems.append(f"missing index file {file}")
            continue
        if name not in records:
            continue
        size = file.stat().st_size
        if size != records[name]["bytes"]:
            problems.append(f"index file {INDEX_DIR}/{name}: {size} bytes, manifest says {records[name]['bytes']}")
        elif checksums and file_digest(file)["sha256"] != records[name]["sha256"]:
            problems.append(f"index file {INDEX_DIR}/{name}: sha256 mismatch (damaged file)")
    return problems


def _open_problems(path: Path) -> list[str]:
    """The error of opening the index with its consistency check, if any."""
    try:
        ShardIndex.load(path, check=True)
    except (FileNotFoundError, ValueError) as err:
        return [f"index: {err}"]
    return []


def shard_info(path: str | Path) -> dict[str, Any]:
    """Counts of a shard folder, what its build stored, and problems found by a size check.

    Returns:
        A dict: ``path``, ``format_version``, ``kind`` (``"videos"`` or ``"images"``), ``items``, ``classes``,
        ``frames``, ``bytes`` (all shard files), ``shards``, ``failures``, ``parameters`` (the build's, as recorded),
        ``duration`` (seconds of video stored, the sum of the items' durations; None for images),
        ``bytes_per_second`` (``bytes / duration``; None for images or no duration), ``short_side`` (see
        :func:`stored_short_side`; None if unknown), ``fps`` (the build's ``--fps``; None: native),
        ``quality`` (the build's JPEG quality; None if not recorded), ``frame_crc`` (whether the folder stores a
        CRC-32 per frame, checked on every read: format 2; format 1 folders are read unchecked) and ``problems``
        (missing or resized shard and index files, an index that does not open or is inconsistent).
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
        "frame_crc": int(manifest["format_version"]) >= 2,
        "provenance": provenance_of_manifest(manifest),
        "problems": _problems(path, manifest, checksums=False),
    }


def _empty_problems(manifest: dict[str, Any]) -> list[str]:
    """An empty build is a problem: no input could be read."""
    if manifest.get("num_items", 0) > 0:
        return []
    return [f"the folder holds no item: no input could be read (see {FAILURES_FILE})"]


def _problems(path: Path, manifest: dict[str, Any], checksums: bool) -> list[str]:
    """Shard and index file problems, then (when every file is there) the index's consistency."""
    problems = _empty_problems(manifest)
    problems += _shard_problems(path, manifest, checksums) + _index_problems(path, manifest, checksums)
    if not any(p.startswith("missing") for p in problems):
        problems += _open_problems(path)
    return problems


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


def verify_shards(
    path: str | Path, samples: int = 64, seed: int = 0, *, full: bool = False, progress: bool = False
) -> list[str]:
    """Verify a shard folder; return the problems found (an empty list: no problem).

    Checks the size and sha256 of every shard file and of every index file (as the manifest records them), that the
    index opens and is consistent, then checks frames: with ``full``, every frame (its CRC-32, then decoded: the
    size must be the item's), else ``samples`` frames drawn without replacement (all of them when ``samples`` is at
    least the number of frames). At most :data:`MAX_FRAME_PROBLEMS` damaged frames are listed, the rest counted.

    Args:
        path: The shard folder.
        samples: Frames to check when not ``full``.
        seed: Seed of the frames drawn.
        full: Check and decode every frame.
        progress: Show a progress bar of the frames checked.
    """
    path = Path(path)
    manifest = load_manifest(path)
    problems = _empty_problems(manifest)
    problems += _shard_problems(path, manifest, checksums=True) + _index_problems(path, manifest, checksums=True)
    try:
        reader = ShardReader(path)
    except (FileNotFoundError, ValueError) as err:
        return [*problems, f"index: {err}"]
    if len(reader) != manifest["num_items"]:
        problems.append(f"index has {len(reader)} items, manifest says {manifest['num_items']}")
    total = int(reader.index.meta["num_frames"])
    if full:
        frames: range | list[int] = range(total)
    else:
        frames = sorted(random.Random(seed).sample(range(total), min(max(samples, 0), total)))
    damaged = _check_frames(reader, frames, progress)
    problems += damaged[:MAX_FRAME_PROBLEMS]
    if len(damaged) > MAX_FRAME_PROBLEMS:
        problems.append(f"... and {len(damaged) - MAX_FRAME_PROBLEMS} more damaged frames")
    return problems


def _check_frames(reader: ShardReader, frames: range | list[int], progress: bool) -> list[str]:
    """Check the CRC-32 of the global frames ``frames`` (increasing) and decode them; the problems found."""
    a, crc = reader.index.arrays, reader.index.frame_crc32
    problems: list[str] = []
    turbo = simplejpeg_available()
    buffer = torch.empty(0, dtype=torch.uint8)
    bar = tqdm(total=len(frames), unit="frame", desc="sce-shards verify", disable=not progress, dynamic_ncols=True)
    with bar:
        for start in range(0, len(frames), 4096):  # one vectorised lookup per block of frames
            block = frames[start : start + 4096]
            items = (np.searchsorted(a["item_first_frame"], block, side="right") - 1).tolist()
            local = (np.asarray(block) - a["item_first_frame"][items]).tolist()
            sizes = zip(a["item_height"][items].tolist(), a["item_width"][items].tolist(), strict=True)
            for frame, item, k, (height, width) in zip(block, items, local, sizes, strict=True):
                where = f"item {item} frame {k}"
                try:
                    data = reader.frame_arrays_many([item], [[k]], verify=False)[0]
                    if crc is not None and (actual := zlib.crc32(data.data)) != int(crc[frame]):
                        raise reader.damage_error(item, frame, actual, advice=False)
                    if buffer.numel() < height * width * 3:
                        buffer = torch.empty(height * width * 3, dtype=torch.uint8)
                    out = buffer[: height * width * 3].view(height, width, 3)
                    if not (turbo and decode_jpeg_into(data, out)):
                        shape = tuple(decode_jpeg_frame(jpeg_tensor(data)).shape)
                        if shape != (height, width, 3):
                            problems.append(f"{where}: decodes to {shape}, the index says {(height, width, 3)}")
                except ShardDamageError as err:
                    problems.append(str(err))
                except _VERIFY_ERRORS as err:
                    problems.append(f"{where}: cannot decode ({err})")
                bar.update(1)
    return problems
