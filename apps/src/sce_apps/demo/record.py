"""The ``dataset.json`` record of a demo dataset: what it holds, how it was made, where each camera went."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sce_apps.demo import layout
from sce_apps.demo.scenes import GAP_FRACTION, TRAIN_FRACTION, VideoPlan, bounding_box, split_regions
from sce_apps.demo.sources import PHOTOS, load_digits, photo_size
from sce_apps.engine.atomic import atomic_write_text

GENERATOR = "sce_apps.demo.make_dataset"
FORMAT_VERSION = 1
DATASET_JSON = "dataset.json"


def plan_relpath(plan: VideoPlan) -> str:
    """Return a planned video's path relative to the videos folder (``Class/v_Class_gGG_cCC.mp4``)."""
    return layout.video_relpath(PHOTOS[plan.class_index].name, plan.group, plan.clip)


def _box(box: Sequence[float]) -> list[float]:
    """A box as a JSON list, rounded to 1/100 pixel (regions are 5% of the photograph apart, so rounding is safe)."""
    return [round(float(v), 2) for v in box]


def describe(params: dict[str, Any], classes: list[str], plans: list[VideoPlan]) -> dict[str, Any]:
    """Build the ``dataset.json`` record."""
    _, labels = load_digits()
    class_records = []
    for label, name in enumerate(classes):
        ci = next(i for i, p in enumerate(PHOTOS) if p.name == name)
        h, w = photo_size(ci)
        class_records.append(
            {
                "label": label + 1,
                "name": name,
                "source": PHOTOS[ci].source,
                "photo_crop": list(PHOTOS[ci].crop),
                "photo_size": [h, w],
                "regions": {k: _box(v) for k, v in split_regions(h, w).items()},
            }
        )
    videos = [
        {
            "path": plan_relpath(p),
            "split": p.split,
            "label": classes.index(PHOTOS[p.class_index].name) + 1,
            "group": p.group,
            "clip": p.clip,
            "frames": len(p.windows),
            "camera": {
                "first": _box(p.windows[0]),
                "last": _box(p.windows[-1]),
                "bbox": _box(bounding_box(p.windows)),
            },
            "foreground": {
                "digit_index": p.foreground.digit_index,
                "digit": int(labels[p.foreground.digit_index]),
                "color": list(p.foreground.color),
                "side": p.foreground.side,
            },
            "lighting": {"gains": [round(g, 4) for g in p.gains], "gamma": round(p.gamma, 4)},
        }
        for p in plans
    ]
    counts = {s: sum(v["split"] == s for v in videos) for s in ("train", "test")}
    return {
        "generator": GENERATOR,
        "params": params,
        "classes": class_records,
        "counts": {**counts, "total": len(videos), "classes": len(classes)},
        "region_split": (
            f"each photograph is cut along its long side: train camera windows stay in the first "
            f"{TRAIN_FRACTION:.0%}, test windows in the last {1 - TRAIN_FRACTION - GAP_FRACTION:.0%}, with a "
            f"{GAP_FRACTION:.0%} gap between them; boxes are [top, left, bottom, right] in photo pixels"
        ),
        "layout": {
            "videos": layout.VIDEOS_DIR,
            "splits": layout.SPLITS_DIR,
            "files": [layout.CLASS_IND, layout.TRAIN_LIST, layout.TEST_LIST],
        },
        "videos": videos,
    }


def read_dataset_json(root: Path) -> dict[str, Any] | None:
    """Return the ``dataset.json`` record of a folder, or None if it has none or it is unreadable."""
    try:
        record = json.loads((Path(root) / DATASET_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("generator") == GENERATOR else None


def is_complete(root: Path, record: dict[str, Any]) -> bool:
    """Whether every file ``record`` lists exists and is non-empty."""
    try:
        files = [root / layout.SPLITS_DIR / f for f in record["layout"]["files"]]
        files += [root / layout.VIDEOS_DIR / v["path"] for v in record["videos"]]
        _ = record["classes"][0]["name"], record["counts"]["train"], record["counts"]["test"]
    except (KeyError, TypeError, IndexError):
        return False
    return all(f.is_file() and f.stat().st_size > 0 for f in files)


def write_dataset_json(root: Path, record: dict[str, Any]) -> None:
    """Write ``record`` to ``root/dataset.json`` (temporary name, then rename)."""
    atomic_write_text(root / DATASET_JSON, _dumps(record))


def _dumps(record: dict[str, Any]) -> str:
    """Serialise a record as JSON with one line per top-level field and per class or video entry."""
    fields = []
    for key, value in record.items():
        if key in ("classes", "videos"):
            entries = ",\n".join(f"  {json.dumps(v)}" for v in value)
            fields.append(f" {json.dumps(key)}: [\n{entries}\n ]")
        else:
            fields.append(f" {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(fields) + "\n}\n"
