"""ImageFolder trees as shard inputs: the index and the encoder of one-frame items.

``sce-shards build --layout imagefolder`` stores each image as an item of one JPEG frame in the same shard format as
the videos (:mod:`sce_video_data.shards.writer`), so :class:`~sce_video_data.loading.images.ShardImageDataset` reads
them with the same memory-mapped machinery. An image that cannot be decoded is reported by the build (its reason in
``failures.jsonl``) and skipped.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.io import ImageReadMode, decode_image, encode_jpeg

from sce_video_data.indexes.videos import folders_index
from sce_video_data.shards.encoding import EncodeParams
from sce_video_data.shards.writer import EncodedItem
from sce_video_data.transforms.resize import resize

__all__ = ["IMAGE_EXTENSIONS", "encode_image_item", "imagefolder_index", "stored_image_size"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
_JPEG_MAGIC = b"\xff\xd8\xff"


def imagefolder_index(
    root: str | Path, *, problems: list[tuple[str, str]] | None = None
) -> tuple[list[tuple[str, int]], list[str]]:
    """An ImageFolder tree ``root/<class>/<image>``: classes sorted by name, every file with an image extension.

    Args:
        root: Folder of class folders.
        problems: Receives ``(path, "symlink loop")`` for every symlink loop met (see ``folders_index``).

    Returns:
        ``(items, class_names)`` with items ``(path relative to root, label)``.

    Raises:
        ValueError: No class folder, or an image that resolves outside ``root`` (through a symlink).
    """
    return folders_index(root, IMAGE_EXTENSIONS, problems=problems)


def stored_image_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """``(width, height)`` stored for an image: short side reduced to ``short_side``, never enlarged (0: unchanged)."""
    if short_side < 0:
        raise ValueError(f"short_side: expected >= 0 (0 keeps the size), got {short_side}")
    if not short_side or min(width, height) <= short_side:
        return width, height
    if width <= height:
        return short_side, max(1, round(height * short_side / width))
    return max(1, round(width * short_side / height)), short_side


def encode_image_item(path: str, params: EncodeParams) -> EncodedItem:
    """Decode the image at ``path`` and store it as a one-frame item.

    A JPEG that needs no resizing is stored byte for byte (after a successful decode); anything else is resized
    (bilinear, antialiased) and encoded at ``params.quality``.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file is empty or cannot be decoded as an image.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"image not found: {file}")
    raw = file.read_bytes()
    if not raw:
        raise ValueError(f"{file}: empty file")
    try:
        image = decode_image(torch.frombuffer(bytearray(raw), dtype=torch.uint8), mode=ImageReadMode.RGB)
    except RuntimeError as err:
        raise ValueError(f"{file}: not a decodable image ({err})") from err
    height, width = image.shape[-2:]
    size = stored_image_size(width, height, params.short_side)
    if size == (width, height) and raw.startswith(_JPEG_MAGIC):
        data = raw
    else:
        hwc = resize(image.permute(1, 2, 0), (size[1], size[0]), antialias=True)
        data = bytes(encode_jpeg(hwc.permute(2, 0, 1).contiguous(), quality=params.quality).numpy())
    record = {"path": str(file), "source_width": width, "source_height": height}
    return EncodedItem([data], [0.0], 1.0, 1.0, True, size[0], size[1], record)
