"""Finding the videos and split files of a UCF101-layout folder (official or demo)."""

from __future__ import annotations

from pathlib import Path

SPLIT_FILES = ("classInd.txt", "trainlist01.txt", "testlist01.txt")


def locate_ucf101(root: Path) -> tuple[Path, Path]:
    """Return ``(videos_root, splits_dir)`` of a UCF101-layout folder.

    The split files (``classInd.txt``, ``trainlist01.txt``, ``testlist01.txt``) and the class folders of videos may
    sit directly in ``root`` or one level down in their own folders (the official ``UCF-101/`` and
    ``ucfTrainTestlist/``, or ``videos/`` and ``splits/``).

    Raises:
        FileNotFoundError: naming what is missing and where it was looked for.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"--data-root {root} is not a folder")
    candidates = [root, *sorted(p for p in root.iterdir() if p.is_dir())]
    splits = next((c for c in candidates if all((c / name).is_file() for name in SPLIT_FILES)), None)
    if splits is None:
        raise FileNotFoundError(f"no UCF101 split files ({', '.join(SPLIT_FILES)}) in {root} or its sub-folders")
    classes = _class_names(splits / "classInd.txt")
    videos = next((c for c in candidates if all((c / name).is_dir() for name in classes)), None)
    if videos is None:
        raise FileNotFoundError(
            f"no folder holding the {len(classes)} class folders of {splits / 'classInd.txt'} "
            f"(e.g. {classes[0]}/) in {root} or its sub-folders"
        )
    return videos, splits


def _class_names(class_ind: Path) -> list[str]:
    names = []
    for number, line in enumerate(class_ind.read_text().splitlines(), start=1):
        fields = line.strip().split()
        if not fields:
            continue
        if len(fields) != 2:
            raise ValueError(f"{class_ind}:{number}: expected '<index> <ClassName>', got {line!r}")
        names.append(fields[1])
    if not names:
        raise ValueError(f"{class_ind} lists no class")
    return names
