"""Build the demo's labelled video dataset from real photographs, as H.264 ``.mp4`` files in the UCF101 layout.

Each video is a virtual camera path (smooth pan and slow zoom) over one photograph shipped by scikit-image or
scikit-learn, with a digit from scikit-learn's ``load_digits`` moving over it as a distraction; the label is the
photograph ("which scene is this?"). Train and test camera paths of a photograph stay in disjoint regions of it
(see :mod:`sce_apps.demo.scenes`), so neither raw pixels nor memorised crops solve the test split. The files follow
UCF101 exactly (see :mod:`sce_apps.demo.layout`), so the demo reads them through the same code path as a real UCF101
folder. See ``apps/docs/demo_dataset.md``.

Command line::

    python -m sce_apps.demo.make_dataset --out data/demo [--seed 0] [--train-per-class 24] [--test-per-class 8]
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from sce_apps.demo import layout
from sce_apps.demo.dataset_dir import install_dir, is_nonempty_dir, looks_generated, new_tmp_dir, remove_tmp_dir
from sce_apps.demo.params import check_int, generation_params, plan_all
from sce_apps.demo.record import (
    DATASET_JSON,
    GENERATOR,
    describe,
    is_complete,
    plan_relpath,
    read_dataset_json,
    write_dataset_json,
)
from sce_apps.demo.render import render_video
from sce_apps.demo.scenes import VideoPlan
from sce_apps.demo.sources import MAX_CLASSES, PHOTOS


@dataclass(frozen=True)
class DemoDatasetInfo:
    """A demo dataset on disk.

    Attributes:
        root: The dataset folder (holds ``videos/``, ``splits/`` and ``dataset.json``).
        classes: Class names in label order: label ``i`` is line ``i + 1`` of ``classInd.txt``.
        num_train: Number of train videos.
        num_test: Number of test videos.
        params: The generation parameters (equal parameters give identical frames).
        reused: True when an existing complete dataset with the same parameters was returned instead of generated.
        seconds: Wall time spent generating (0 when reused).
    """

    root: Path
    classes: tuple[str, ...]
    num_train: int
    num_test: int
    params: dict[str, Any] = field(repr=False)
    reused: bool = False
    seconds: float = 0.0

    @property
    def videos_dir(self) -> Path:
        """The folder of class folders of videos."""
        return self.root / layout.VIDEOS_DIR

    @property
    def splits_dir(self) -> Path:
        """The folder of ``classInd.txt``, ``trainlist01.txt`` and ``testlist01.txt``."""
        return self.root / layout.SPLITS_DIR

    @property
    def json_path(self) -> Path:
        """The dataset description ``dataset.json``."""
        return self.root / DATASET_JSON


def _info_from_record(root: Path, record: dict[str, Any], reused: bool, seconds: float) -> DemoDatasetInfo:
    return DemoDatasetInfo(
        root=root,
        classes=tuple(c["name"] for c in record["classes"]),
        num_train=record["counts"]["train"],
        num_test=record["counts"]["test"],
        params=record["params"],
        reused=reused,
        seconds=seconds,
    )


def _render_all(tmp: Path, plans: list[VideoPlan], workers: int, progress: bool) -> None:
    """Render and encode every planned video into ``tmp/videos``, in a spawned process pool when ``workers > 0``."""
    for name in {PHOTOS[p.class_index].name for p in plans}:
        (tmp / layout.VIDEOS_DIR / name).mkdir(parents=True, exist_ok=True)
    tasks = [(p, tmp / layout.VIDEOS_DIR / plan_relpath(p)) for p in plans]
    bar = tqdm(total=len(tasks), desc="demo videos", unit="video", disable=not progress)
    with bar:
        if workers == 0:
            for task in tasks:
                render_video(*task)
                bar.update()
            return
        chunk = max(1, min(8, len(tasks) // (4 * workers)))
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for _ in pool.imap_unordered(_render_task, tasks, chunksize=chunk):
                bar.update()


def _render_task(task: tuple[VideoPlan, Path]) -> int:
    return render_video(*task)


def make_demo_dataset(
    out_dir: Path,
    *,
    seed: int = 0,
    videos_per_class_train: int = 24,
    videos_per_class_test: int = 8,
    frames: int = 75,
    size: tuple[int, int] = (96, 128),
    fps: int = 25,
    num_classes: int = 10,
    lighting: float = 0.15,
    overwrite: bool = False,
    workers: int = 2,
    progress: bool = False,
) -> DemoDatasetInfo:
    """Build the demo video dataset in ``out_dir`` (UCF101 layout, H.264 ``.mp4``), or reuse it if already built.

    The same parameters always give the same decoded frames. The dataset is generated in a temporary sibling folder
    ``<out_dir>.tmp-XXXX`` and renamed into place when complete, so ``out_dir`` never holds a partial dataset.

    Args:
        out_dir: Destination folder; it will hold ``videos/``, ``splits/`` and ``dataset.json``.
        seed: Seed of every random choice (camera paths, digits, colours, motions).
        videos_per_class_train: Train videos per class.
        videos_per_class_test: Test videos per class.
        frames: Frames per video (75 at 25 fps is 3 s, enough for two 2.56 s clips, SPEC 4.2).
        size: Frame ``(height, width)``, both even and at least 16.
        fps: Frame rate.
        num_classes: Number of classes (photographs), 2 to 15; the first 10 are colour photographs.
        lighting: Strength in [0, 1] of a random per-video lighting change (RGB gains and gamma, each within
            ``[1/(1+lighting), 1+lighting]``), as between recording sessions; 0 keeps the photographs' colours.
        overwrite: Replace an existing non-empty ``out_dir`` that holds a different or incomplete demo dataset.
        workers: Encoder processes (0 encodes in this process). The output does not depend on it.
        progress: Show a progress bar.

    Returns:
        The dataset's description; ``reused`` is true when a complete dataset with the same parameters was already
        in ``out_dir`` (it is returned as is, even with ``overwrite``).

    Raises:
        ValueError: On an invalid parameter, or when ``overwrite`` would replace a folder holding other files.
        FileExistsError: If ``out_dir`` is non-empty and does not hold this exact dataset, and ``overwrite`` is false.
        NotADirectoryError: If ``out_dir`` exists and is a file.
    """
    params = generation_params(
        seed, videos_per_class_train, videos_per_class_test, frames, size, fps, num_classes, lighting
    )
    check_int("workers", workers, 0, 64)
    out = Path(out_dir).absolute()
    replace = _check_existing(out, params, overwrite)
    if replace is None:
        return _info_from_record(out, read_dataset_json(out) or {}, reused=True, seconds=0.0)
    start = time.perf_counter()
    classes, plans = plan_all(params)
    record = describe(params, classes, plans)
    tmp = new_tmp_dir(out)
    try:
        _render_all(tmp, plans, workers, progress)
        train = [v["path"] for v in record["videos"] if v["split"] == "train"]
        test = [v["path"] for v in record["videos"] if v["split"] == "test"]
        layout.write_split_files(tmp / layout.SPLITS_DIR, classes, train, test)
        write_dataset_json(tmp, record)
        install_dir(tmp, out, replace)
    except BaseException:
        remove_tmp_dir(tmp)
        raise
    return _info_from_record(out, record, reused=False, seconds=time.perf_counter() - start)


def _check_existing(out: Path, params: dict[str, Any], overwrite: bool) -> bool | None:
    """Decide what to do with an existing ``out``: None to reuse it, else whether installing must replace it."""
    if not is_nonempty_dir(out):
        return False
    record = read_dataset_json(out)
    if record is not None and record.get("params") == params and is_complete(out, record):
        return None
    if not overwrite:
        what = "a demo dataset with other parameters or missing files" if record else "other files"
        raise FileExistsError(
            f"output folder {out} is not empty (it holds {what}); pass overwrite=True (--overwrite) to replace it"
        )
    if record is None and not looks_generated(out, {layout.VIDEOS_DIR, layout.SPLITS_DIR, DATASET_JSON}):
        raise ValueError(
            f"refusing to overwrite {out}: it does not look like a demo dataset (no {DATASET_JSON} written by "
            f"{GENERATOR}, and other entries than videos/, splits/); remove it yourself or choose another --out"
        )
    return True


def _parse_size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 96x128, got {text!r}") from None
    return height, width


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser of ``python -m sce_apps.demo.make_dataset``."""
    parser = argparse.ArgumentParser(
        prog="python -m sce_apps.demo.make_dataset",
        description=(
            "Build the SCE demo video dataset: camera paths over real photographs shipped by scikit-image and "
            "scikit-learn, with a moving digit, labelled by photograph; H.264 .mp4 files in the UCF101 layout "
            "(videos/<Class>/v_<Class>_gGG_cCC.mp4, splits/classInd.txt, trainlist01.txt, testlist01.txt). "
            "Train and test videos of a photograph film disjoint regions of it. A complete dataset with the same "
            "parameters already in --out is reused."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument("--train-per-class", type=int, default=24, help="train videos per class")
    parser.add_argument("--test-per-class", type=int, default=8, help="test videos per class")
    parser.add_argument("--num-classes", type=int, default=10, help=f"classes (photographs), 2 to {MAX_CLASSES}")
    parser.add_argument("--frames", type=int, default=75, help="frames per video")
    parser.add_argument("--size", type=_parse_size, default=(96, 128), help="frame size HEIGHTxWIDTH, both even")
    parser.add_argument("--fps", type=int, default=25, help="frame rate")
    parser.add_argument(
        "--lighting", type=float, default=0.15, help="strength of the random per-video lighting change (0: none)"
    )
    parser.add_argument("--workers", type=int, default=2, help="encoder processes (0: in this process)")
    parser.add_argument("--overwrite", action="store_true", help="replace a different dataset already in --out")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (2 with a message on bad arguments or an occupied --out)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        info = make_demo_dataset(
            args.out,
            seed=args.seed,
            videos_per_class_train=args.train_per_class,
            videos_per_class_test=args.test_per_class,
            frames=args.frames,
            size=args.size,
            fps=args.fps,
            num_classes=args.num_classes,
            lighting=args.lighting,
            overwrite=args.overwrite,
            workers=args.workers,
            progress=not args.no_progress,
        )
    except (ValueError, FileExistsError, NotADirectoryError) as err:
        parser.error(str(err))
    verb = "reused the existing" if info.reused else f"wrote in {info.seconds:.1f} s a"
    print(
        f"{verb} demo dataset at {info.root}: {len(info.classes)} classes, {info.num_train} train and "
        f"{info.num_test} test videos ({info.json_path.name} describes it)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
