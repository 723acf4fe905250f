"""Dataset indexes: UCF101, HMDB51, Kinetics (CSV or list file) and plain class folders (SPEC 6.1).

Each function returns ``(items, class_names)`` where ``items`` is a list of ``(relative path, label)``; paths are
relative to the videos root and may contain spaces.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

__all__ = ["VIDEO_EXTENSIONS", "folders_index", "hmdb51_index", "kinetics_csv_index", "list_index", "ucf101_index"]

Items = list[tuple[str, int]]
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg")


def _check_split(split: str, split_id: int | None = None) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    if split_id is not None and split_id not in (1, 2, 3):
        raise ValueError(f"split_id: expected 1, 2 or 3, got {split_id}")


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"split file not found: {path}")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def ucf101_index(splits_dir: str | Path, split: str = "train", split_id: int = 1) -> tuple[Items, list[str]]:
    """UCF101 from ``classInd.txt`` and ``trainlist0N.txt`` / ``testlist0N.txt``; label = classInd number - 1.

    Test lists have no label column: the label comes from the class folder of the path (case-insensitive, since
    the official lists spell some classes differently from classInd, e.g. ``HandStandPushups``).
    """
    _check_split(split, split_id)
    splits_dir = Path(splits_dir)
    classes: dict[int, str] = {}
    for line in _lines(splits_dir / "classInd.txt"):
        number, name = line.split(maxsplit=1)
        classes[int(number)] = name.strip()
    if sorted(classes) != list(range(1, len(classes) + 1)):
        raise ValueError(f"{splits_dir / 'classInd.txt'}: class numbers must be 1..N, got {sorted(classes)[:5]}...")
    class_names = [classes[i] for i in range(1, len(classes) + 1)]
    by_name = {name.lower(): i for i, name in enumerate(class_names)}
    list_file = splits_dir / f"{split}list0{split_id}.txt"
    items: Items = []
    for line in _lines(list_file):
        match = re.fullmatch(r"(.+?)(?:\s+(\d+))?", line)
        assert match is not None
        path = match.group(1).replace("\\", "/")
        folder = path.split("/")[0].lower()
        if folder not in by_name:
            raise ValueError(f"{list_file}: class folder of {path!r} is not in classInd.txt")
        if match.group(2) is not None and int(match.group(2)) - 1 != by_name[folder]:
            raise ValueError(f"{list_file}: label {match.group(2)} of {path!r} disagrees with classInd.txt")
        items.append((path, by_name[folder]))
    return items, class_names


def hmdb51_index(splits_dir: str | Path, split: str = "train", split_id: int = 1) -> tuple[Items, list[str]]:
    """HMDB51 from the official ``<class>_test_split<N>.txt`` files (1 = train, 2 = test, 0 = unused).

    Classes are sorted by name; paths are ``<class>/<video>``.
    """
    _check_split(split, split_id)
    splits_dir = Path(splits_dir)
    suffix = f"_test_split{split_id}.txt"
    files = sorted(p for p in splits_dir.iterdir() if p.name.endswith(suffix)) if splits_dir.is_dir() else []
    if not files:
        raise FileNotFoundError(f"{splits_dir}: no HMDB51 split files '*{suffix}'")
    class_names = [p.name[: -len(suffix)] for p in files]
    wanted = "1" if split == "train" else "2"
    items: Items = []
    for label, path in enumerate(files):
        for line in _lines(path):
            name, _, code = line.rpartition(" ")
            if code not in ("0", "1", "2") or not name.strip():
                raise ValueError(f"{path}: expected '<video> <0|1|2>' lines, got {line!r}")
            if code == wanted:
                items.append((f"{class_names[label]}/{name.strip()}", label))
    return items, class_names


def list_index(list_file: str | Path) -> tuple[Items, list[str]]:
    """The authors' list format: lines ``<class>/<file> <label>`` (optionally ``<num_frames>`` after the label).

    Class names come from the folder part of the paths, ordered by label.
    """
    list_file = Path(list_file)
    items: Items = []
    names: dict[int, str] = {}
    for line in _lines(list_file):
        match = re.fullmatch(r"(.+?)\s+(\d+)(?:\s+\d+)?", line)
        if match is None:
            raise ValueError(f"{list_file}: expected '<class>/<file> <label>' lines, got {line!r}")
        path, label = match.group(1), int(match.group(2))
        folder = path.split("/")[0] if "/" in path else str(label)
        if names.setdefault(label, folder) != folder:
            raise ValueError(f"{list_file}: label {label} used for folders {names[label]!r} and {folder!r}")
        items.append((path, label))
    if sorted(names) != list(range(len(names))):
        raise ValueError(f"{list_file}: labels must be 0..N-1, got {sorted(names)[:5]}...")
    return items, [names[i] for i in range(len(names))]


def kinetics_csv_index(csv_file: str | Path, videos_root: str | Path) -> tuple[Items, list[str]]:
    """Kinetics from a CSV ``label,youtube_id,time_start,time_end,split`` and a folder of downloaded files.

    Files are found anywhere under ``videos_root`` by YouTube id (``<id>.mp4`` or ``<id>_<start>_<end>.mp4``).
    Classes are the sorted CSV labels; rows whose file is missing are left out.
    """
    csv_file, videos_root = Path(csv_file), Path(videos_root)
    if not csv_file.is_file():
        raise FileNotFoundError(f"Kinetics CSV not found: {csv_file}")
    with open(csv_file, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or not {"label", "youtube_id"} <= set(rows[0]):
        raise ValueError(f"{csv_file}: expected columns label,youtube_id,time_start,time_end,split")
    files: dict[str, str] = {}
    for path in sorted(videos_root.rglob("*")):
        if path.suffix.lower() in VIDEO_EXTENSIONS and path.is_file():
            stem = re.sub(r"_\d{6}_\d{6}$", "", path.stem)
            files.setdefault(stem, path.relative_to(videos_root).as_posix())
    class_names = sorted({row["label"].strip() for row in rows})
    label_of = {name: i for i, name in enumerate(class_names)}
    items = [
        (files[row["youtube_id"].strip()], label_of[row["label"].strip()])
        for row in rows
        if row["youtube_id"].strip() in files
    ]
    return items, class_names


def folders_index(root: str | Path, extensions: tuple[str, ...] = VIDEO_EXTENSIONS) -> tuple[Items, list[str]]:
    """Plain class folders ``root/<class>/<file>``: classes sorted by name, every file with a listed extension."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"videos folder not found: {root}")
    class_names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_names:
        raise ValueError(f"{root}: no class folders")
    items: Items = []
    for label, name in enumerate(class_names):
        for path in sorted((root / name).rglob("*")):
            if path.is_file() and path.suffix.lower() in extensions:
                items.append((path.relative_to(root).as_posix(), label))
    return items, class_names
