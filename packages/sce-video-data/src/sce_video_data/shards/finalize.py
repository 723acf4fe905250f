"""Last step of a build: merge the per-shard indexes into the global index, write failures and the manifest."""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sce_video_data.__about__ import __version__
from sce_video_data.indexes.paths import printable_path
from sce_video_data.shards.atomic import atomic_write_bytes, atomic_write_json
from sce_video_data.shards.format import FAILURES_FILE, FORMAT_VERSION, FRAME_ARRAYS, MANIFEST_FILE, save_index
from sce_video_data.shards.provenance import provenance_of_manifest
from sce_video_data.shards.writer import read_sidecar

__all__ = ["finalize"]

_ITEM_FIELDS = {
    "item_num_frames": "num_frames",
    "item_fps": "fps",
    "item_duration": "duration",
    "item_cfr": "cfr",
    "item_label": "label",
    "item_width": "width",
    "item_height": "height",
}


def _merge(out: Path, num_shards: int) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], list[Any]]:
    arrays: dict[str, list[Any]] = {name: [] for name in (*_ITEM_FIELDS, "item_shard", "item_first_frame")}
    frames: dict[str, list[np.ndarray]] = {name: [] for name in FRAME_ARRAYS}
    shards, items, failures = [], [], []
    first = 0
    for shard in range(num_shards):
        meta, frame_arrays = read_sidecar(out, shard)
        shards.append(meta["shard"])
        failures.extend(meta["failures"])
        for item in meta["items"]:
            for name, key in _ITEM_FIELDS.items():
                arrays[name].append(item[key])
            arrays["item_shard"].append(shard)
            arrays["item_first_frame"].append(first)
            first += item["num_frames"]
            items.append({**item, "shard": shard})
        for name, values in frame_arrays.items():
            frames[name].append(values)
    merged: dict[str, Any] = {**arrays, **{k: np.concatenate(v) if v else np.empty(0) for k, v in frames.items()}}
    return merged, shards, items, failures


def finalize(
    out: Path,
    root: Path,
    inputs: Sequence[tuple[str, int]],
    class_names: Sequence[str],
    settings: dict[str, Any],
    plan: dict[str, Any],
    problems: Sequence[dict[str, Any]] = (),
    split: str | None = None,
) -> dict[str, Any]:
    """Write ``index/``, ``failures.jsonl`` and ``manifest.json`` (last) from the committed shards.

    The manifest records the size and sha256 of every shard file and of every file of ``index/``. ``problems``
    (``{"path", "reason"}`` of what the index could not list, e.g. symlink loops) come first in the failures and
    count as inputs. ``split`` names the layout's split (recorded as given). The manifest's ``provenance`` entry
    holds the content hash of the finished set with its build parameters
    (:func:`~sce_video_data.shards.provenance.provenance_of_manifest`). Paths and class names must be valid UTF-8
    (:func:`~sce_video_data.indexes.paths.printable_path`).

    Returns:
        The manifest (without per-item records) as a dict.
    """
    merged, shards, items, failures = _merge(out, plan["num_shards"])
    failures = [*problems, *failures]
    num_frames = sum(int(s["num_frames"]) for s in shards)
    summary = {
        "num_items": len(items),
        "num_frames": num_frames,
        "num_shards": plan["num_shards"],
        "class_names": list(class_names),
        "kind": settings.get("layout", "videos"),
    }
    index_files = save_index(out, {k: np.asarray(v) for k, v in merged.items()}, summary)
    lines = "".join(json.dumps({"path": f["path"], "reason": f["reason"]}, ensure_ascii=False) + "\n" for f in failures)
    atomic_write_bytes(out / FAILURES_FILE, lines.encode("utf-8"))
    manifest = {
        "format_version": FORMAT_VERSION,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "writer": f"sce-video-data {__version__}",
        "source_root": printable_path(str(root)),
        "split": split,
        "parameters": {**settings, "items_per_shard": plan["items_per_shard"]},
        "class_names": list(class_names),
        "num_inputs": len(inputs) + len(problems),
        "num_items": len(items),
        "num_frames": num_frames,
        "num_failures": len(failures),
        "total_bytes": sum(int(s["bytes"]) for s in shards),
        "shards": shards,
        "index": index_files,  # {file name in index/: {"bytes", "sha256"}}, checked by `sce-shards verify`
        "provenance": {},
        "failures": [{"path": f["path"], "reason": f["reason"]} for f in failures],
        "items": items,
    }
    manifest["provenance"] = provenance_of_manifest(manifest)
    atomic_write_json(out / MANIFEST_FILE, manifest)
    return manifest
