"""The device stage end to end: uint8 conversion, two views, CPU/CUDA agreement."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from sce_video_data.transforms import (
    BatchAugmentation,
    Normalize,
    image_sce_views,
    to_float_batch,
    video_pretrain_crop,
    video_sce_views,
)


def _uint8_clips(batch: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (batch, 3, 32, 32, 3), dtype=torch.uint8, generator=g)


def test_to_float_batch_layouts() -> None:
    clips = _uint8_clips()
    out = to_float_batch(clips)
    assert out.shape == (4, 3, 3, 32, 32) and out.is_contiguous() and out.dtype == torch.float32
    assert float(out[1, 2, 0, 5, 7]) == pytest.approx(int(clips[1, 0, 5, 7, 2]) / 255)
    images = to_float_batch(clips[:, 0])
    assert images.shape == (4, 3, 32, 32) and torch.equal(images, out[:, :, 0])
    with pytest.raises(ValueError, match="uint8"):
        to_float_batch(clips.float())


def test_views_accept_collated_uint8_and_normalise() -> None:
    clips = _uint8_clips()
    identity = BatchAugmentation(normalize=Normalize((0.45,) * 3, (0.225,) * 3))
    expected = (to_float_batch(clips) - 0.45) / 0.225
    torch.testing.assert_close(identity(clips), expected)
    for view in (*video_sce_views(), *image_sce_views()):
        x = clips if view.normalize.mean[0] == 0.45 else clips[:, 0]  # type: ignore[union-attr]
        out = view(x, torch.Generator().manual_seed(0))
        assert out.shape == to_float_batch(x).shape and bool(torch.isfinite(out).all())


def test_loader_stage_then_device_stage() -> None:
    g = torch.Generator().manual_seed(1)
    crop = video_pretrain_crop(size=24)
    clips = torch.stack([crop(c, g) for c in _uint8_clips()])
    assert clips.shape == (4, 3, 24, 24, 3) and clips.dtype == torch.uint8
    out = video_sce_views()[0](clips, g)
    assert out.shape == (4, 3, 3, 24, 24)


def test_cpu_chunking_does_not_change_the_result() -> None:
    x = to_float_batch(_uint8_clips(batch=6))
    for view in video_sce_views():
        whole = dataclasses.replace(view, cpu_chunk_bytes=0)(x, torch.Generator().manual_seed(4))
        one_clip = dataclasses.replace(view, cpu_chunk_bytes=1)(x, torch.Generator().manual_seed(4))
        default = view(x, torch.Generator().manual_seed(4))
        torch.testing.assert_close(one_clip, whole, atol=1e-6, rtol=0)
        torch.testing.assert_close(default, whole, atol=1e-6, rtol=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cpu_and_cuda_give_the_same_result() -> None:
    x = to_float_batch(_uint8_clips(batch=8))
    for view in video_sce_views():
        cpu = view(x, torch.Generator().manual_seed(3))
        gpu = view(x.cuda(), torch.Generator().manual_seed(3))
        torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=0)
