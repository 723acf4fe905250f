"""Which CPU JPEG decoder fills the batches: torchvision's operator, or libjpeg-turbo straight into the batch.

torchvision's decoder (always installed) allocates each decoded frame itself, so a loader that returns batches has
to copy every frame once more. libjpeg-turbo's TurboJPEG API, which the optional ``simplejpeg`` package wraps
(``pip install "sce-video-data[turbo]"``), writes the pixels into a buffer it is given, here the frame's place in
the batch, and releases the GIL while it decodes. Both run libjpeg-turbo with its default (accurate) DCT and
upsampling, so the pixels are the same (the tests compare them frame by frame).

Decoder names: ``"auto"`` (``simplejpeg`` when it is installed, else ``"torchvision"``), ``"torchvision"``,
``"simplejpeg"`` (an error when it is not installed). On the GPU, torchvision's decoder is always used.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch
from torchvision.io import ImageReadMode, decode_jpeg

__all__ = [
    "JPEG_DECODERS",
    "decode_jpeg_frame",
    "decode_jpegs",
    "TURBO",
    "DirectDecoder",
    "decode_jpeg_into",
    "jpeg_shape",
    "jpeg_tensor",
    "resolve_jpeg_decoder",
    "simplejpeg_available",
]

JPEG_DECODERS = ("auto", "torchvision", "simplejpeg")

# colour spaces both decoders convert to RGB identically (CMYK and YCCK differ: torchvision's own conversion is used)
_SAME_PIXELS = ("YCbCr", "Gray")
_MODULE: list[Any] = []  # [simplejpeg module or None], looked up once per process


def _simplejpeg() -> Any:
    if not _MODULE:
        try:
            _MODULE.append(importlib.import_module("simplejpeg"))
        except ImportError:
            _MODULE.append(None)
    return _MODULE[0]


def simplejpeg_available() -> bool:
    """Whether the optional ``simplejpeg`` package (libjpeg-turbo's TurboJPEG API) can be imported."""
    return _simplejpeg() is not None


def resolve_jpeg_decoder(name: str) -> str:
    """The CPU decoder ``name`` stands for: ``"torchvision"`` or ``"simplejpeg"``.

    Raises:
        ValueError: ``name`` is not one of :data:`JPEG_DECODERS`.
        ModuleNotFoundError: ``"simplejpeg"`` was asked for and is not installed.
    """
    if name not in JPEG_DECODERS:
        raise ValueError(f"jpeg_decoder: expected one of {', '.join(map(repr, JPEG_DECODERS))}, got {name!r}")
    if name == "auto":
        return "simplejpeg" if simplejpeg_available() else "torchvision"
    if name == "simplejpeg" and not simplejpeg_available():
        raise ModuleNotFoundError(
            "jpeg_decoder='simplejpeg' needs the simplejpeg package: pip install 'sce-video-data[turbo]' "
            "(or use jpeg_decoder='torchvision')"
        )
    return name


def decode_jpegs(data: list[torch.Tensor], device: str | torch.device = "cpu") -> list[torch.Tensor]:
    """Decode JPEG byte tensors to RGB ``(3, H, W)`` uint8 with torchvision's batched decoder (GPU when asked)."""
    if not data:
        return []
    return list(decode_jpeg(data, mode=ImageReadMode.RGB, device=device))


def decode_jpeg_frame(data: torch.Tensor) -> torch.Tensor:
    """Decode one JPEG byte tensor on the CPU to contiguous uint8 ``(H, W, 3)`` RGB with torchvision's decoder."""
    image = decode_jpeg(data, mode=ImageReadMode.RGB)
    return image.permute(1, 2, 0)  # the decoder returns a (3, H, W) view of (H, W, 3) memory


def jpeg_shape(data: np.ndarray | torch.Tensor) -> tuple[int, int, int] | None:
    """``(H, W, 3)`` of the JPEG bytes ``data`` when :func:`decode_jpeg_into` can decode them, else None.

    None when ``simplejpeg`` is not installed, the header cannot be read, or the colour space is not YCbCr or
    greyscale (e.g. CMYK, which torchvision converts its own way).
    """
    module = _simplejpeg()
    if module is None:
        return None
    try:
        height, width, colorspace, _ = module.decode_jpeg_header(_array(data))
    except ValueError:
        return None
    return (height, width, 3) if colorspace in _SAME_PIXELS else None


def decode_jpeg_into(data: np.ndarray | torch.Tensor, out: np.ndarray | torch.Tensor) -> bool:
    """Decode the JPEG bytes ``data`` to RGB straight into ``out``, contiguous uint8 ``(H, W, 3)`` CPU memory.

    Returns:
        True when ``out`` now holds the image; False (``out`` untouched, or to be overwritten) when ``simplejpeg`` is
        not installed, the image is not ``H x W`` or not YCbCr or greyscale (e.g. CMYK), or libjpeg-turbo cannot
        decode it (a damaged stream): the caller then decodes with torchvision, whose result or error is the
        reference.
    """
    module = _simplejpeg()
    target = out.numpy() if isinstance(out, torch.Tensor) else out
    if module is None or target.dtype != np.uint8 or target.ndim != 3 or target.shape[2] != 3:
        return False
    source = _array(data)
    try:
        height, width, colorspace, _ = module.decode_jpeg_header(source)
        if (height, width) != target.shape[:2] or colorspace not in _SAME_PIXELS or not target.flags.c_contiguous:
            return False
        module.decode_jpeg(source, colorspace="RGB", buffer=target)
    except ValueError:
        return False
    return True


def jpeg_tensor(data: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``data`` as a uint8 tensor for torchvision's decoder (a read-only array is wrapped without a copy)."""
    if isinstance(data, torch.Tensor):
        return data
    with warnings.catch_warnings():  # torch warns that it cannot mark a tensor of read-only memory read-only
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(data)


def _array(data: np.ndarray | torch.Tensor) -> np.ndarray:
    return data.numpy() if isinstance(data, torch.Tensor) else data


class DirectDecoder(NamedTuple):
    """A decoder that writes straight into given memory (what :meth:`BatchBuilder.add_decoded` uses).

    Attributes:
        shape: The ``(H, W, 3)`` a datum decodes to, or None when it cannot be decoded this way.
        decode: Decode a datum into a given ``(H, W, 3)`` array; False when it could not.
        tensor: A datum as a uint8 tensor (for the plain decoder, when this one could not).
    """

    shape: Callable[[Any], tuple[int, int, int] | None]
    decode: Callable[[Any, np.ndarray], bool]
    tensor: Callable[[Any], torch.Tensor]


#: libjpeg-turbo through simplejpeg, straight into the batch.
TURBO = DirectDecoder(jpeg_shape, decode_jpeg_into, jpeg_tensor)
