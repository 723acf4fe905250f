"""Real images that ship inside installed packages: the demo's scene photographs and digit sprites.

Nothing is downloaded: every file is found by path inside the installed ``skimage`` and ``sklearn`` distributions
(without importing them, which is slow).
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

#: Photographs are downscaled once at load time so that their short side is at most this many pixels.
MAX_SHORT_SIDE = 512


@dataclass(frozen=True)
class Photo:
    """One scene photograph, the source of one class.

    Attributes:
        name: The class name (CamelCase, no underscore, as UCF101 class names).
        package: The installed package that ships the file (``"skimage"`` or ``"sklearn"``).
        relpath: The file's path inside that package.
        crop: Usable part of the photograph as fractions ``(top, left, bottom, right)``; it excludes black borders.
    """

    name: str
    package: str
    relpath: str
    crop: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)

    @property
    def source(self) -> str:
        """Where the file comes from, e.g. ``"skimage/data/astronaut.png"``."""
        return f"{self.package}/{self.relpath}"


#: The scene photographs in class order. The first ten are colour photographs (the default demo); the grayscale
#: ones after them are only used when more classes are asked for.
PHOTOS: tuple[Photo, ...] = (
    Photo("Astronaut", "skimage", "data/astronaut.png"),
    Photo("Chelsea", "skimage", "data/chelsea.png"),
    Photo("Coffee", "skimage", "data/coffee.png"),
    Photo("HubbleDeepField", "skimage", "data/hubble_deep_field.jpg"),
    Photo("Immunohistochemistry", "skimage", "data/ihc.png"),
    Photo("Motorcycle", "skimage", "data/motorcycle_left.png"),
    Photo("Retina", "skimage", "data/retina.jpg", crop=(0.17, 0.17, 0.83, 0.83)),
    Photo("Rocket", "skimage", "data/rocket.jpg"),
    Photo("SummerPalace", "sklearn", "datasets/images/china.jpg"),
    Photo("Flower", "sklearn", "datasets/images/flower.jpg"),
    Photo("Cameraman", "skimage", "data/camera.png"),
    Photo("Coins", "skimage", "data/coins.png"),
    Photo("Grass", "skimage", "data/grass.png"),
    Photo("Brick", "skimage", "data/brick.png"),
    Photo("Gravel", "skimage", "data/gravel.png"),
)

#: The most classes the demo dataset can have.
MAX_CLASSES = len(PHOTOS)

_DIGITS_RELPATH = "datasets/data/digits.csv.gz"


def package_dir(package: str) -> Path:
    """Return the folder of an installed package without importing it.

    Args:
        package: Top-level import name, e.g. ``"skimage"``.

    Returns:
        The package's folder.

    Raises:
        FileNotFoundError: If the package is not installed.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"package {package!r} is not installed; the demo dataset reads real images that ship inside it "
            f"(install scikit-image and scikit-learn)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def photo_path(photo: Photo) -> Path:
    """Return the path of a photograph's file, checking that it exists.

    Raises:
        FileNotFoundError: If the package or the file is missing.
    """
    path = package_dir(photo.package) / photo.relpath
    if not path.is_file():
        raise FileNotFoundError(f"photograph {photo.name!r} not found at {path} (expected in {photo.package})")
    return path


@functools.cache
def load_photo(index: int) -> np.ndarray:
    """Load photograph ``PHOTOS[index]`` as an RGB ``uint8`` array of shape ``(H, W, 3)``.

    Grayscale files are replicated to three channels; the photograph is cropped to its usable part and downscaled
    (Lanczos) so that its short side is at most :data:`MAX_SHORT_SIDE`. The result is cached per process.
    """
    photo = PHOTOS[index]
    with Image.open(photo_path(photo)) as img:
        rgb = img.convert("RGB")
    w, h = rgb.size
    top, left, bottom, right = photo.crop
    rgb = rgb.crop((round(left * w), round(top * h), round(right * w), round(bottom * h)))
    scale = MAX_SHORT_SIDE / min(rgb.size)
    if scale < 1.0:
        new_size = (max(1, round(rgb.size[0] * scale)), max(1, round(rgb.size[1] * scale)))
        rgb = rgb.resize(new_size, Image.Resampling.LANCZOS)
    array = np.asarray(rgb, dtype=np.uint8)
    array.setflags(write=False)
    return array


def photo_size(index: int) -> tuple[int, int]:
    """Return ``(height, width)`` of photograph ``PHOTOS[index]`` after :func:`load_photo`'s crop and downscale."""
    h, w, _ = load_photo(index).shape
    return h, w


@functools.lru_cache(maxsize=1)
def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """Load scikit-learn's 1,797 handwritten digits from the file it ships (without importing sklearn).

    Returns:
        ``(images, labels)``: ``float32`` images of shape ``(1797, 8, 8)`` scaled to [0, 1], and ``int64`` labels.

    Raises:
        FileNotFoundError: If scikit-learn or its digits file is missing.
    """
    path = package_dir("sklearn") / _DIGITS_RELPATH
    if not path.is_file():
        raise FileNotFoundError(f"scikit-learn digits not found at {path}")
    table = np.loadtxt(path, delimiter=",", dtype=np.float32)
    images = (table[:, :-1] / 16.0).reshape(-1, 8, 8)
    labels = table[:, -1].astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels
