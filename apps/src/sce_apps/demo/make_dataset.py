"""The demo's labelled videos: camera paths over photographs shipped by scikit-image and scikit-learn.

Each class is one photograph. A video is a smooth pan with a slow zoom over it, under a colour grading that drifts
from one random look to another (hue, saturation, gains, gamma: colour does not name the class, and two clips of a
video differ in it), with a handwritten digit of scikit-learn's ``load_digits`` bouncing over it that changes every
second. Train and test videos of a class film disjoint regions of the photograph (the first 55 % of its long side and
the last 40 %), so neither raw pixels nor memorised crops solve the test split: what transfers is the scene's
structure and texture. Videos are H.264 ``.mp4`` files in the UCF101 layout that
:func:`sce_video_data.indexes.ucf101_index` reads (``videos/<Class>/v_<Class>_g<GG>_c<CC>.mp4``;
``splits/classInd.txt``, ``trainlist01.txt``, ``testlist01.txt`` with Windows line endings; test groups first, as in
UCF101's split 1).

Every random draw of a video comes from ``(seed, class, split, group, clip)``: the same arguments give the same bytes,
whatever the number of worker processes. Nothing is downloaded; the images are read from the installed packages.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import multiprocessing
import os
import shutil
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image
from tqdm import tqdm

from sce_apps.engine.atomic import atomic_write_text

#: Class name -> (package, file inside it, usable part of the photograph as fractions (top, left, bottom, right)).
PHOTOS: dict[str, tuple[str, str, tuple[float, float, float, float]]] = {
    "Astronaut": ("skimage", "data/astronaut.png", (0, 0, 1, 1)),
    "Brick": ("skimage", "data/brick.png", (0, 0, 1, 1)),
    "Chelsea": ("skimage", "data/chelsea.png", (0, 0, 1, 1)),
    "Coffee": ("skimage", "data/coffee.png", (0, 0, 1, 1)),
    "Coins": ("skimage", "data/coins.png", (0, 0, 1, 1)),
    "Flower": ("sklearn", "datasets/images/flower.jpg", (0, 0, 1, 1)),
    "Grass": ("skimage", "data/grass.png", (0, 0, 1, 1)),
    "Gravel": ("skimage", "data/gravel.png", (0, 0, 1, 1)),
    "HubbleDeepField": ("skimage", "data/hubble_deep_field.jpg", (0, 0, 1, 1)),
    "Immunohistochemistry": ("skimage", "data/ihc.png", (0, 0, 1, 1)),
    "Moon": ("skimage", "data/moon.png", (0, 0, 1, 1)),
    "Motorcycle": ("skimage", "data/motorcycle_left.png", (0, 0, 1, 1)),
    "Page": ("skimage", "data/page.png", (0, 0, 1, 1)),
    "Retina": ("skimage", "data/retina.jpg", (0.17, 0.17, 0.83, 0.83)),  # the fundus disc, without the black border
    "Rocket": ("skimage", "data/rocket.jpg", (0, 0, 1, 1)),
    "SummerPalace": ("sklearn", "datasets/images/china.jpg", (0, 0, 1, 1)),
    "Text": ("skimage", "data/text.png", (0, 0, 1, 1)),
}
#: ``content`` -> its photographs (classes): ``textures``, ten photographs of one texture each (stars, stained
#: tissue, retinal vessels, bricks, coins, grass, gravel, craters, print, handwriting); ``scenes``, ten colour
#: photographs of scenes and objects (the demo dataset before 2026-12-05).
# fmt: off
CONTENTS = {
    "textures": ("HubbleDeepField", "Immunohistochemistry", "Retina", "Brick", "Coins", "Grass", "Gravel", "Moon",
                 "Page", "Text"),
    "scenes": ("Astronaut", "Chelsea", "Coffee", "HubbleDeepField", "Immunohistochemistry", "Motorcycle", "Retina",
               "Rocket", "SummerPalace", "Flower"),
}
# fmt: on
MAX_SHORT_SIDE = 512
TRAIN_FRACTION, GAP_FRACTION = 0.55, 0.05
CLIPS_PER_GROUP = 4
#: libx264 at constant quality with one thread and no macroblock-tree rate control: the bitstream is a function of the
#: frames alone (with mbtree the same frames sometimes encoded differently depending on what the process did before).
X264 = {"crf": "20", "preset": "veryfast", "x264-params": "mbtree=0"}
SPLIT_CODES = {"train": 1, "test": 2}


@dataclass(frozen=True)
class DemoDataset:
    """A demo dataset on disk: ``root/videos/<Class>/*.mp4`` and ``root/splits/*.txt``; classes in label order."""

    root: Path
    classes: tuple[str, ...]

    @property
    def videos_dir(self) -> Path:
        """The folder of class folders."""
        return self.root / "videos"

    @property
    def splits_dir(self) -> Path:
        """The folder of ``classInd.txt``, ``trainlist01.txt`` and ``testlist01.txt``."""
        return self.root / "splits"


def _package_file(package: str, relpath: str) -> Path:
    """A file shipped inside an installed package, found without importing the package (slow)."""
    spec = importlib.util.find_spec(package)
    path = Path(next(iter(spec.submodule_search_locations or []), "")) / relpath if spec else None
    if path is None or not path.is_file():
        raise FileNotFoundError(f"{package}/{relpath} not found: the demo dataset needs scikit-image and scikit-learn")
    return path


@functools.cache
def load_photo(name: str) -> Image.Image:
    """Photograph ``name`` in RGB, cropped to its usable part, short side at most :data:`MAX_SHORT_SIDE` (Lanczos)."""
    package, relpath, (top, left, bottom, right) = PHOTOS[name]
    with Image.open(_package_file(package, relpath)) as img:
        rgb = img.convert("RGB")
    w, h = rgb.size
    rgb = rgb.crop((round(left * w), round(top * h), round(right * w), round(bottom * h)))
    scale = MAX_SHORT_SIDE / min(rgb.size)
    if scale < 1:
        rgb = rgb.resize((round(rgb.size[0] * scale), round(rgb.size[1] * scale)), Image.Resampling.LANCZOS)
    return rgb


@functools.cache
def load_digits() -> np.ndarray:
    """scikit-learn's 1,797 handwritten 8x8 digits as ``float32`` in [0, 1], read from the file it ships."""
    table = np.loadtxt(_package_file("sklearn", "datasets/data/digits.csv.gz"), delimiter=",", dtype=np.float32)
    return (table[:, :-1] / 16.0).reshape(-1, 8, 8)


def split_regions(height: int, width: int) -> dict[str, tuple[float, float, float, float]]:
    """Disjoint ``(top, left, bottom, right)`` regions along the long side: train the first 55 %, test the last 40 %."""
    long_side = max(height, width)
    cut, start = TRAIN_FRACTION * long_side, (TRAIN_FRACTION + GAP_FRACTION) * long_side
    if width >= height:
        return {"train": (0.0, 0.0, height, cut), "test": (0.0, start, height, width)}
    return {"train": (0.0, 0.0, cut, width), "test": (start, 0.0, height, width)}


def camera_path(rng: np.random.Generator, region: tuple[float, ...], base: float, aspect: float, frames: int) -> Any:
    """``(frames, 4)`` camera windows ``(left, top, right, bottom)``: a smoothstep pan and a geometric zoom.

    Every window lies inside ``region`` (``(top, left, bottom, right)``); the pan goes between two random points.

    The window height goes from ``s0 · base`` to ``s1 · base`` (``s0`` in [0.6, 0.9], zoom factor log-uniform in
    [0.8, 1.25], ``s1`` clipped to [0.5, 1]); ``base`` fits both regions, so both splits see the scene at one scale.
    """
    s0 = rng.uniform(0.6, 0.9)
    s1 = float(np.clip(s0 * np.exp(rng.uniform(np.log(0.8), np.log(1.25))), 0.5, 1.0))
    u0, u1 = rng.uniform(0, 1, 2), rng.uniform(0, 1, 2)
    tau = np.linspace(0.0, 1.0, frames)
    heights = base * s0 * (s1 / s0) ** tau
    ease = tau * tau * (3 - 2 * tau)
    u = u0 + (u1 - u0) * ease[:, None]
    top = region[0] + u[:, 0] * (region[2] - region[0] - heights)
    left = region[1] + u[:, 1] * (region[3] - region[1] - heights * aspect)
    windows = np.stack([left, top, left + heights * aspect, top + heights], axis=1)
    return np.clip(windows, (region[1], region[0]) * 2, (region[3], region[2]) * 2)  # rounding errors only


def colour_grading(angle: float, saturation: float, gains: Any) -> Any:
    """The ``3 x 3`` colour matrix that turns hue by ``angle`` about the gray axis, scales saturation, then gains."""
    gray = np.full((3, 3), 1 / 3)
    axis = np.ones(3) / np.sqrt(3)
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rotation = np.cos(angle) * np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * np.outer(axis, axis)
    return ((gray + saturation * (rotation - gray)) * np.asarray(gains)[:, None]).astype(np.float32)


def bounce(rng: np.random.Generator, frames: int, room: tuple[int, int], speed: float) -> Any:
    """``(frames, 2)`` integer top-left corners of a sprite moving straight and bouncing inside ``room`` pixels."""
    angle = rng.uniform(0, 2 * np.pi)
    raw = rng.uniform(0, 1, 2) * room + np.outer(np.arange(frames), speed * np.array([np.sin(angle), np.cos(angle)]))
    folded = np.mod(raw, 2 * np.maximum(room, 1))
    return np.rint(np.where(folded > room, 2 * np.asarray(room) - folded, folded)).astype(np.int64)


def render(
    seed: int, name: str, label: int, split: str, group: int, clip: int, frames: int, size: tuple[int, int], fps: int
) -> Any:
    """The ``uint8 (frames, height, width, 3)`` frames of one video (see the module's description)."""
    height, width = size
    photo = load_photo(name)
    regions = split_regions(photo.height, photo.width)
    base = min(min(b[2] - b[0], (b[3] - b[1]) * height / width) for b in regions.values())
    rng = np.random.default_rng(np.random.SeedSequence([seed, label, SPLIT_CODES[split], group, clip]))
    windows = camera_path(rng, regions[split], base, width / height, frames)
    # colour grading drifting from one random look to another over the video (hue, saturation, gains, gamma)
    hue = rng.uniform(-np.pi, np.pi) + np.array([0.0, rng.uniform(-np.pi, np.pi)])
    saturation = rng.uniform(0.0, 1.3, 2)
    log_gains = rng.uniform(-np.log(1.4), np.log(1.4), (2, 4))
    side = int(round(rng.uniform(0.25, 0.35) * min(size)))
    corners = bounce(rng, frames, (height - side, width - side), rng.uniform(0.4, 1.2) * min(size) / fps)
    digits = load_digits()
    picks = rng.integers(len(digits), size=-(-frames // fps))
    colours = rng.uniform(0, 255, (len(picks), 3)).astype(np.float32)
    out = np.empty((frames, height, width, 3), np.uint8)
    for t, box in enumerate(windows):
        view = np.asarray(photo.resize((width, height), Image.Resampling.BILINEAR, box=tuple(box)), np.float32) / 255
        tau = t / max(1, frames - 1)
        matrix = colour_grading(
            hue[0] + tau * hue[1],
            float(np.interp(tau, (0, 1), saturation)),
            np.exp((1 - tau) * log_gains[0, :3] + tau * log_gains[1, :3]),
        )
        gamma = float(np.exp((1 - tau) * log_gains[0, 3] + tau * log_gains[1, 3]))
        graded = np.clip(view @ matrix.T, 0, 1) ** gamma * 255
        alpha = _digit(int(picks[t // fps]), side)[..., None]
        y, x = corners[t]
        patch = graded[y : y + side, x : x + side]
        graded[y : y + side, x : x + side] = patch * (1 - alpha) + colours[t // fps] * alpha
        out[t] = np.clip(np.rint(graded), 0, 255)
    return out


@functools.lru_cache(maxsize=256)
def _digit(index: int, side: int) -> Any:
    return np.asarray(Image.fromarray(np.uint8(load_digits()[index] * 255)).resize((side, side)), np.float32) / 255


def encode(frames: Any, path: Path, fps: int) -> None:
    """Write RGB frames as an H.264 ``yuv420p`` ``.mp4`` (one keyframe per second)."""
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        stream.codec_context.gop_size = fps
        stream.codec_context.thread_count = 1
        stream.options = dict(X264)
        for t, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _video_task(task: tuple[Path, dict[str, Any]]) -> None:
    path, video = task
    encode(render(**video), path, video["fps"])


def make_demo_dataset(
    out_dir: Path,
    *,
    seed: int = 0,
    content: str = "textures",
    num_classes: int = 10,
    videos_per_class_train: int = 24,
    videos_per_class_test: int = 8,
    frames: int = 80,
    size: tuple[int, int] = (96, 128),
    fps: int = 10,
    workers: int = 2,
    progress: bool = False,
) -> DemoDataset:
    """Write the demo dataset into ``out_dir`` (built in a temporary sibling, then renamed), or reuse it.

    Args:
        out_dir: Destination; a folder that holds this exact dataset (same arguments) is returned as it is.
        seed: Seed of every random draw.
        content: Which photographs make the classes (:data:`CONTENTS`).
        num_classes: Classes, the first ``num_classes`` photographs of ``content``.
        videos_per_class_train: Train videos per class.
        videos_per_class_test: Test videos per class.
        frames: Frames per video (80 at 10 fps: 8 s, room for two clips far apart).
        size: Frame ``(height, width)``, both even.
        fps: Frame rate.
        workers: Encoding processes (0: this process); the bytes do not depend on it.
        progress: Show a progress bar.

    Raises:
        ValueError: On a bad argument.
        FileExistsError: If ``out_dir`` is not empty and holds something else.
    """
    if content not in CONTENTS or not 2 <= num_classes <= len(CONTENTS[content]):
        raise ValueError(
            f"content must be one of {sorted(CONTENTS)}, with 2 to 10 classes; got {content!r}, {num_classes}"
        )
    if size[0] % 2 or size[1] % 2 or min(size) < 16 or frames < 2 or fps < 1:
        raise ValueError(f"need even frame sides >= 16, frames >= 2 and fps >= 1, got {size}, {frames}, {fps}")
    counts = {"test": videos_per_class_test, "train": videos_per_class_train}
    first_group = {"test": 1, "train": 1 + -(-counts["test"] // CLIPS_PER_GROUP)}
    if min(counts.values()) < 1 or first_group["train"] + counts["train"] // CLIPS_PER_GROUP > 99:
        raise ValueError(f"need 1 or more videos per class and split, and at most 99 groups, got {counts}")
    params = {"seed": seed, "content": content, "num_classes": num_classes, **counts, "frames": frames}
    params |= {"size": list(size), "fps": fps, "x264": X264, "version": 2}
    out = Path(out_dir).absolute()
    classes = tuple(sorted(CONTENTS[content][:num_classes]))
    if out.is_dir() and any(out.iterdir()):
        stamp = out / "params.json"
        if stamp.is_file() and json.loads(stamp.read_text()) == params:
            return DemoDataset(out, classes)
        raise FileExistsError(f"{out} is not empty and holds no demo dataset made with these settings")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{out.name}.tmp-", dir=out.parent))
    try:
        lines: dict[str, list[str]] = {"train": [], "test": []}
        tasks = []
        for label, name in enumerate(classes):
            (tmp / "videos" / name).mkdir(parents=True)
            for split in ("test", "train"):
                for i in range(counts[split]):
                    group, clip = first_group[split] + i // CLIPS_PER_GROUP, 1 + i % CLIPS_PER_GROUP
                    relpath = f"{name}/v_{name}_g{group:02d}_c{clip:02d}.mp4"
                    lines[split].append(f"{relpath} {label + 1}" if split == "train" else relpath)
                    video = {"seed": seed, "name": name, "label": label, "split": split, "group": group, "clip": clip}
                    tasks.append((tmp / "videos" / relpath, {**video, "frames": frames, "size": size, "fps": fps}))
        with tqdm(total=len(tasks), desc="demo videos", unit="video", disable=not progress) as bar:
            if workers == 0:
                for task in tasks:
                    _video_task(task)
                    bar.update()
            else:
                with multiprocessing.get_context("spawn").Pool(workers) as pool:
                    for _ in pool.imap_unordered(_video_task, tasks, chunksize=4):
                        bar.update()
        (tmp / "splits").mkdir()
        files = {"classInd.txt": [f"{i + 1} {n}" for i, n in enumerate(classes)]}
        files |= {"trainlist01.txt": lines["train"], "testlist01.txt": lines["test"]}
        for filename, rows in files.items():
            (tmp / "splits" / filename).write_bytes("".join(f"{row}\r\n" for row in rows).encode("ascii"))
        atomic_write_text(tmp / "params.json", json.dumps(params) + "\n")
        if out.is_dir():
            out.rmdir()
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return DemoDataset(out, classes)
