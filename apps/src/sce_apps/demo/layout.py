r"""The UCF101 folder layout and split-file formats, as the official release has them.

* videos: ``videos/<ClassName>/v_<ClassName>_g<GG>_c<CC>.mp4`` (group ``GG``, clip ``CC``, both 1-based, 2 digits);
* ``splits/classInd.txt``: ``"<index> <ClassName>"`` lines, 1-based, classes in alphabetical order;
* ``splits/trainlist01.txt``: ``"<ClassName>/<file> <index>"`` lines (path and 1-based label);
* ``splits/testlist01.txt``: ``"<ClassName>/<file>"`` lines (path only, no label);

every line ending in ``\\r\\n`` (Windows line endings), as the official lists do. Like UCF101's split 1, the test
split takes the lowest group numbers and the train split the following ones.
"""

from __future__ import annotations

from pathlib import Path

from sce_apps.engine.atomic import atomic_write

#: Clips per group. UCF101 has 4 to 7 clips per group; clips of a group share their "actor" (here: the digit).
CLIPS_PER_GROUP = 4
#: Group and clip numbers are written with two digits.
MAX_GROUPS = 99
VIDEOS_DIR = "videos"
SPLITS_DIR = "splits"
CLASS_IND = "classInd.txt"
TRAIN_LIST = "trainlist01.txt"
TEST_LIST = "testlist01.txt"
NEWLINE = "\r\n"


def video_filename(class_name: str, group: int, clip: int) -> str:
    """Return the UCF101 file name of a clip, e.g. ``v_Coffee_g03_c02.mp4``."""
    return f"v_{class_name}_g{group:02d}_c{clip:02d}.mp4"


def video_relpath(class_name: str, group: int, clip: int) -> str:
    """Return a clip's path relative to the videos folder, as written in the split files (``Class/v_....mp4``)."""
    return f"{class_name}/{video_filename(class_name, group, clip)}"


def groups_needed(count: int) -> int:
    """Return how many groups ``count`` clips fill (the last one may be partial)."""
    return -(-count // CLIPS_PER_GROUP)


def assign_groups(num_train: int, num_test: int) -> dict[str, list[tuple[int, int]]]:
    """Assign ``(group, clip)`` numbers to the clips of one class: test groups first, train groups after them.

    Args:
        num_train: Train clips of the class.
        num_test: Test clips of the class.

    Returns:
        ``{"train": [(group, clip), ...], "test": [...]}``, both 1-based.

    Raises:
        ValueError: If the clips need more than :data:`MAX_GROUPS` groups.
    """
    first_train = groups_needed(num_test) + 1
    if first_train - 1 + groups_needed(num_train) > MAX_GROUPS:
        raise ValueError(
            f"{num_train} train + {num_test} test videos per class need more than {MAX_GROUPS} groups of "
            f"{CLIPS_PER_GROUP} clips; use fewer videos per class"
        )

    def numbers(count: int, first_group: int) -> list[tuple[int, int]]:
        return [(first_group + i // CLIPS_PER_GROUP, 1 + i % CLIPS_PER_GROUP) for i in range(count)]

    return {"test": numbers(num_test, 1), "train": numbers(num_train, first_train)}


def _write_lines(path: Path, lines: list[str]) -> None:
    """Write lines with Windows line endings, to a temporary name then renamed."""
    atomic_write(path, lambda handle: handle.write("".join(line + NEWLINE for line in lines).encode("ascii")))


def write_split_files(splits_dir: Path, classes: list[str], train: list[str], test: list[str]) -> None:
    """Write ``classInd.txt``, ``trainlist01.txt`` and ``testlist01.txt`` in the official UCF101 formats.

    Args:
        splits_dir: Destination folder (created if missing).
        classes: Class names in label order (label ``i`` is written as ``i + 1``).
        train: Train clip paths ``Class/v_....mp4``; their label comes from the class folder.
        test: Test clip paths ``Class/v_....mp4``.
    """
    splits_dir.mkdir(parents=True, exist_ok=True)
    index = {name: i + 1 for i, name in enumerate(classes)}
    _write_lines(splits_dir / CLASS_IND, [f"{i} {name}" for name, i in index.items()])
    _write_lines(splits_dir / TRAIN_LIST, [f"{p} {index[p.split('/', 1)[0]]}" for p in train])
    _write_lines(splits_dir / TEST_LIST, list(test))
