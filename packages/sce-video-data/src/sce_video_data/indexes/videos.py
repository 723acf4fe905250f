"""Dataset indexes: UCF101, HMDB51, Kinetics (CSV or list file) and plain class folders (SPEC 6.1).

Each function returns ``(items, class_names)`` where ``items`` is a list of ``(relative path, label)``; paths are
relative to the videos root and may contain spaces.

Given the videos root (``videos_root``; the root itself for Kinetics CSVs and class folders), an index refuses a path
that resolves outside it once ``..`` and symlinks are resolved (:class:`~sce_video_data.indexes.paths.RootGuard`),
with a :class:`ValueError` naming the split file, the line (1-based) and the path. Split files are read as UTF-8 with
undecodable bytes kept as lone surrogates (like file names on Linux): the build lists those inputs as failures.
"""

from __future__ import annotations

import csv
import errno
import os
import re
import stat
from pathlib import Path

from sce_video_data.indexes.paths import SYMLINK_LOOP, RootGuard

__all__ = ["VIDEO_EXTENSIONS", "folders_index", "hmdb51_index", "kinetics_csv_index", "list_index", "ucf101_index"]

Items = list[tuple[str, int]]
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg")


def _check_split(split: str, split_id: int | None = None) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    if split_id is not None and split_id not in (1, 2, 3):
        raise ValueError(f"split_id: expected 1, 2 or 3, got {split_id}")


def _lines(path: Path) -> list[tuple[int, str]]:
    """``(line number, stripped text)`` of the non-blank lines of a split file (numbers 1-based, blanks counted)."""
    if not path.is_file():
        raise FileNotFoundError(f"split file not found: {path}")
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    return [(number, line.strip()) for number, line in enumerate(text.split("\n"), 1) if line.strip()]


def _guard(videos_root: str | Path | None) -> RootGuard | None:
    return None if videos_root is None else RootGuard(videos_root)


def ucf101_index(
    splits_dir: str | Path, split: str = "train", split_id: int = 1, videos_root: str | Path | None = None
) -> tuple[Items, list[str]]:
    """UCF101 from ``classInd.txt`` and ``trainlist0N.txt`` / ``testlist0N.txt``; label = classInd number - 1.

    Test lists have no label column: the label comes from the class folder of the path (case-insensitive, since
    the official lists spell some classes differently from classInd, e.g. ``HandStandPushups``).

    Raises:
        ValueError: A malformed line, or (given ``videos_root``) a path that resolves outside ``videos_root``:
            ``"<list file> line <n>: '<path>' resolves outside the videos root <root> (to <real path>)"``.
    """
    _check_split(split, split_id)
    splits_dir = Path(splits_dir)
    guard = _guard(videos_root)
    classes: dict[int, str] = {}
    for _, line in _lines(splits_dir / "classInd.txt"):
        number, name = line.split(maxsplit=1)
        classes[int(number)] = name.strip()
    if sorted(classes) != list(range(1, len(classes) + 1)):
        raise ValueError(f"{splits_dir / 'classInd.txt'}: class numbers must be 1..N, got {sorted(classes)[:5]}...")
    class_names = [classes[i] for i in range(1, len(classes) + 1)]
    by_name = {name.lower(): i for i, name in enumerate(class_names)}
    list_file = splits_dir / f"{split}list0{split_id}.txt"
    items: Items = []
    for line_number, line in _lines(list_file):
        match = re.fullmatch(r"(.+?)(?:\s+(\d+))?", line)
        assert match is not None
        path = match.group(1).replace("\\", "/")
        if guard is not None:
            guard.check(path, f"{list_file} line {line_number}: ")
        folder = path.split("/")[0].lower()
        if folder not in by_name:
            raise ValueError(f"{list_file}: class folder of {path!r} is not in classInd.txt")
        if match.group(2) is not None and int(match.group(2)) - 1 != by_name[folder]:
            raise ValueError(f"{list_file}: label {match.group(2)} of {path!r} disagrees with classInd.txt")
        items.append((path, by_name[folder]))
    return items, class_names


def hmdb51_index(
    splits_dir: str | Path, split: str = "train", split_id: int = 1, videos_root: str | Path | None = None
) -> tuple[Items, list[str]]:
    """HMDB51 from the official ``<class>_test_split<N>.txt`` files (1 = train, 2 = test, 0 = unused).

    Classes are sorted by name; paths are ``<class>/<video>``.

    Raises:
        ValueError: A malformed line, or (given ``videos_root``) a path of the split that resolves outside it.
    """
    _check_split(split, split_id)
    splits_dir = Path(splits_dir)
    guard = _guard(videos_root)
    suffix = f"_test_split{split_id}.txt"
    files = sorted(p for p in splits_dir.iterdir() if p.name.endswith(suffix)) if splits_dir.is_dir() else []
    if not files:
        raise FileNotFoundError(f"{splits_dir}: no HMDB51 split files '*{suffix}'")
    class_names = [p.name[: -len(suffix)] for p in files]
    wanted = "1" if split == "train" else "2"
    items: Items = []
    for label, path in enumerate(files):
        for number, line in _lines(path):
            name, _, code = line.rpartition(" ")
            if code not in ("0", "1", "2") or not name.strip():
                raise ValueError(f"{path} line {number}: expected '<video> <0|1|2>' lines, got {line!r}")
            if code == wanted:
                video = f"{class_names[label]}/{name.strip()}"
                if guard is not None:
                    guard.check(video, f"{path} line {number}: ")
                items.append((video, label))
    return items, class_names


def list_index(list_file: str | Path, videos_root: str | Path | None = None) -> tuple[Items, list[str]]:
    """The authors' list format: lines ``<class>/<file> <label>`` (optionally ``<num_frames>`` after the label).

    Class names come from the folder part of the paths, ordered by label.

    Raises:
        ValueError: A malformed line, or (given ``videos_root``) a path that resolves outside it.
    """
    list_file = Path(list_file)
    guard = _guard(videos_root)
    items: Items = []
    names: dict[int, str] = {}
    for number, line in _lines(list_file):
        match = re.fullmatch(r"(.+?)\s+(\d+)(?:\s+\d+)?", line)
        if match is None:
            raise ValueError(f"{list_file} line {number}: expected '<class>/<file> <label>' lines, got {line!r}")
        path, label = match.group(1), int(match.group(2))
        if guard is not None:
            guard.check(path, f"{list_file} line {number}: ")
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

    Raises:
        ValueError: Missing columns, or a row whose file resolves outside ``videos_root`` (a symlink leading out),
            naming the CSV line.
    """
    csv_file, videos_root = Path(csv_file), Path(videos_root)
    if not csv_file.is_file():
        raise FileNotFoundError(f"Kinetics CSV not found: {csv_file}")
    with open(csv_file, newline="", encoding="utf-8", errors="surrogateescape") as handle:
        reader = csv.DictReader(handle)
        rows = [(row, reader.line_num) for row in reader]
    if not rows or not {"label", "youtube_id"} <= set(rows[0][0]):
        raise ValueError(f"{csv_file}: expected columns label,youtube_id,time_start,time_end,split")
    files: dict[str, str] = {}
    for path in sorted(videos_root.rglob("*")):
        if path.suffix.lower() in VIDEO_EXTENSIONS and path.is_file():
            stem = re.sub(r"_\d{6}_\d{6}$", "", path.stem)
            files.setdefault(stem, path.relative_to(videos_root).as_posix())
    class_names = sorted({row["label"].strip() for row, _ in rows})
    label_of = {name: i for i, name in enumerate(class_names)}
    guard = RootGuard(videos_root)
    items: Items = []
    for row, number in rows:
        rel = files.get(row["youtube_id"].strip())
        if rel is not None:
            guard.check(rel, f"{csv_file} line {number}: ")
            items.append((rel, label_of[row["label"].strip()]))
    return items, class_names


def folders_index(
    root: str | Path, extensions: tuple[str, ...] = VIDEO_EXTENSIONS, *, problems: list[tuple[str, str]] | None = None
) -> tuple[Items, list[str]]:
    """Plain class folders ``root/<class>/<file>``: classes sorted by name, every file with a listed extension.

    Folders are walked recursively, symlinks followed. A symlink that points at itself (or around a cycle of links)
    or at a folder above it is a *symlink loop*: it is not followed, and ``(path, "symlink loop")`` is appended to
    ``problems`` when given (``sce-shards build`` lists them in ``failures.jsonl``). Folders that cannot be listed
    and broken symlinks are skipped.

    Args:
        root: Folder of class folders (hidden ones, ``.*``, are ignored).
        extensions: File name endings to keep (compared in lower case).
        problems: Receives ``(path relative to root, reason)`` for every symlink loop met.

    Returns:
        ``(items, class_names)`` with items ``(path relative to root, label)``, in path order.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        ValueError: No class folder, or a file that resolves outside ``root`` (through a symlink).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"videos folder not found: {root}")
    found = problems if problems is not None else []
    top = os.stat(root)
    ancestors = frozenset({(top.st_dev, top.st_ino)})
    classes: dict[str, os.stat_result] = {}
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        info = _follow(entry, entry.name, found)
        if info is not None and stat.S_ISDIR(info.st_mode):
            if (info.st_dev, info.st_ino) in ancestors:
                found.append((entry.name, SYMLINK_LOOP))
            else:
                classes[entry.name] = info
    class_names = list(classes)
    if not class_names:
        raise ValueError(f"{root}: no class folders")
    guard = RootGuard(root)
    items: Items = []
    for label, (name, info) in enumerate(classes.items()):
        files: list[str] = []
        _walk(os.path.join(root, name), name, ancestors | {(info.st_dev, info.st_ino)}, extensions, files, found)
        for rel in sorted(files, key=lambda path: path.split("/")):
            guard.check(rel)
            items.append((rel, label))
    return items, class_names


def _follow(entry: os.DirEntry[str], rel: str, problems: list[tuple[str, str]]) -> os.stat_result | None:
    """``stat`` of ``entry`` following symlinks; None (and a problem for a symlink loop) when it cannot be read."""
    try:
        return entry.stat(follow_symlinks=True)
    except OSError as err:
        if err.errno == errno.ELOOP:
            problems.append((rel, SYMLINK_LOOP))
        return None


def _walk(
    folder: str,
    rel: str,
    ancestors: frozenset[tuple[int, int]],
    extensions: tuple[str, ...],
    files: list[str],
    problems: list[tuple[str, str]],
) -> None:
    """Append to ``files`` the files under ``folder`` (``rel`` from the root) whose ending is in ``extensions``."""
    try:
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda e: e.name)
    except OSError:  # unreadable or vanished: skipped, as pathlib's rglob did
        return
    for entry in entries:
        child = f"{rel}/{entry.name}"
        try:
            is_link = entry.is_symlink()
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            continue
        if not is_link and not is_dir:
            if Path(entry.name).suffix.lower() in extensions and entry.is_file(follow_symlinks=False):
                files.append(child)
            continue
        info = _follow(entry, child, problems)
        if info is None:  # a broken symlink, or a loop (reported)
            continue
        if stat.S_ISDIR(info.st_mode):
            if (info.st_dev, info.st_ino) in ancestors:
                problems.append((child, SYMLINK_LOOP))
            else:
                _walk(entry.path, child, ancestors | {(info.st_dev, info.st_ino)}, extensions, files, problems)
        elif stat.S_ISREG(info.st_mode) and Path(entry.name).suffix.lower() in extensions:
            files.append(child)
