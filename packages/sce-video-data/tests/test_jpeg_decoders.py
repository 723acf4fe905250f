"""libjpeg-turbo decoding straight into a given buffer (``simplejpeg``) against torchvision's decoder."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from sce_video_data import (
    BatchRequest,
    CenterCrop,
    EncodedItem,
    ShardReader,
    ShardVideoDataset,
    ShardWriter,
    decode_jpeg_frame,
)
from sce_video_data.codecs import jpeg as module
from sce_video_data.codecs.jpeg import decode_jpeg_into, jpeg_shape, resolve_jpeg_decoder, simplejpeg_available
from sce_video_data.shards.encoding import encode_frames
from sce_video_data.shards.finalize import finalize
from sce_video_data.synthetic import decode_frame_index, index_frame, write_index_shards

pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")

needs_simplejpeg = pytest.mark.skipif(not simplejpeg_available(), reason="simplejpeg (sce-video-data[turbo]) missing")


def _jpeg(mode: str, progressive: bool = False, size: tuple[int, int] = (53, 37)) -> torch.Tensor:
    """A JPEG of noise and a gradient (PIL's encoder: another encoder than the shards')."""
    rng = np.random.default_rng(0)
    width, height = size
    pixels = (rng.random((height, width, 3)) * 96 + np.linspace(0, 159, width)[None, :, None]).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, "JPEG", quality=90, progressive=progressive)
    return torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8)


@pytest.fixture
def without_simplejpeg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "_MODULE", [None])


def test_resolve_names(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_jpeg_decoder("torchvision") == "torchvision"
    assert resolve_jpeg_decoder("auto") == ("simplejpeg" if simplejpeg_available() else "torchvision")
    with pytest.raises(ValueError, match="jpeg_decoder: expected one of 'auto', 'torchvision', 'simplejpeg', got 'tv'"):
        resolve_jpeg_decoder("tv")


@pytest.mark.usefixtures("without_simplejpeg")
def test_without_simplejpeg_auto_is_torchvision_and_nothing_is_decoded_into() -> None:
    assert not simplejpeg_available() and resolve_jpeg_decoder("auto") == "torchvision"
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'sce-video-data\[turbo\]'"):
        resolve_jpeg_decoder("simplejpeg")
    out = torch.full((37, 53, 3), 7, dtype=torch.uint8)
    assert not decode_jpeg_into(_jpeg("RGB"), out)
    assert bool((out == 7).all())


@needs_simplejpeg
@pytest.mark.parametrize(("mode", "progressive"), [("RGB", False), ("RGB", True), ("L", False)])
def test_decoded_into_equals_torchvision(mode: str, progressive: bool) -> None:
    data = _jpeg(mode, progressive)
    big = torch.zeros(3, 37, 53, 3, dtype=torch.uint8)  # into the middle place of a larger tensor, as in a batch
    assert decode_jpeg_into(data, big[1])
    assert torch.equal(big[1], decode_jpeg_frame(data))
    assert jpeg_shape(data) == (37, 53, 3) and jpeg_shape(data.numpy()) == (37, 53, 3)
    assert not big[0].any() and not big[2].any()


@needs_simplejpeg
def test_shard_frames_decoded_into_equal_torchvision(tmp_path: Path) -> None:
    reader = ShardReader(write_index_shards(tmp_path / "s", 3, frames=12, sizes=((64, 48), (48, 32))))
    for item in range(3):
        for data in reader.frame_bytes(item, range(12)):
            frame = decode_jpeg_frame(data)
            out = torch.empty_like(frame)
            assert decode_jpeg_into(data, out) and torch.equal(out, frame)


@needs_simplejpeg
@pytest.mark.parametrize(
    "case", ["cmyk", "wrong_size", "not_rgb_shaped", "truncated", "not_a_jpeg", "not_contiguous", "float"]
)
def test_refused_cases_leave_the_buffer_to_torchvision(case: str) -> None:
    """False (so torchvision decodes, or raises its own error) where the pixels could differ or cannot be decoded."""
    data = _jpeg("CMYK") if case == "cmyk" else _jpeg("RGB")
    out = torch.zeros(37, 53, 3, dtype=torch.uint8)
    if case == "wrong_size":
        out = torch.zeros(36, 53, 3, dtype=torch.uint8)
    elif case == "not_rgb_shaped":
        out = torch.zeros(37, 53, 4, dtype=torch.uint8)
    elif case == "truncated":
        data = data[: len(data) // 2].clone()
    elif case == "not_a_jpeg":
        data = torch.zeros(64, dtype=torch.uint8)
    elif case == "not_contiguous":
        out = torch.zeros(53, 37, 3, dtype=torch.uint8).transpose(0, 1)
    elif case == "float":
        out = torch.zeros(37, 53, 3)
    assert not decode_jpeg_into(data, out)
    assert (jpeg_shape(data) is None) == (case in ("cmyk", "not_a_jpeg"))
    if case in ("cmyk", "wrong_size", "not_rgb_shaped", "not_a_jpeg", "not_contiguous", "float"):
        assert not out.any()  # refused before writing anything


def _folder_with_a_cmyk_frame(out: Path) -> Path:
    """2 items of 6 index frames (32x24); frame 2 of item 0 is a CMYK JPEG (which only torchvision converts)."""
    writer = ShardWriter(out, 0)
    for k in range(2):
        jpegs = [bytes(j) for j in encode_frames([index_frame(i, 32, 24) for i in range(6)], quality=90)]
        if k == 0:
            buffer = io.BytesIO()
            Image.fromarray(index_frame(2, 32, 24)).convert("CMYK").save(buffer, "JPEG", quality=90)
            jpegs[2] = buffer.getvalue()
        writer.add(k, k, EncodedItem(jpegs, [i / 25 for i in range(6)], 25.0, 6 / 25, True, 32, 24, {"path": f"{k}"}))
    writer.commit()
    plan = {"num_shards": 1, "items_per_shard": 2}
    finalize(out, out, [("0", 0), ("1", 1)], ["a", "b"], {"layout": "synthetic"}, plan)
    return out


@needs_simplejpeg
@pytest.mark.parametrize("transform", [None, CenterCrop(16)])
def test_an_item_with_a_frame_turbo_cannot_decode_is_decoded_by_torchvision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, transform: Any
) -> None:
    """That frame falls back to torchvision's decoder; the batch equals torchvision's, CMYK frame included."""
    folder = _folder_with_a_cmyk_frame(tmp_path / "s")
    batches = {}
    for decoder in ("torchvision", "simplejpeg"):
        dataset = ShardVideoDataset(
            folder,
            frames=6,
            clip_duration=0.24,
            sampling="uniform",
            clips_per_video=1,
            transform=transform,
            jpeg_decoder=decoder,
        )
        batches[decoder] = dataset[BatchRequest((0, 1), (0, 1))]
    for key in ("video", "label", "index"):
        assert torch.equal(batches["simplejpeg"][key], batches["torchvision"][key]), key
    # the CMYK frame is what torchvision makes of it, unlike libjpeg-turbo's own CMYK -> RGB
    cmyk = ShardReader(folder).frame_bytes(0, [2])[0]
    if transform is None:
        assert torch.equal(batches["simplejpeg"]["video"][0, 0, 2], decode_jpeg_frame(cmyk))
        assert [decode_frame_index(f) for f in batches["simplejpeg"]["video"][1, 0]] == list(range(6))
