"""ImageFolder trees in shards: ``sce-shards build --layout imagefolder`` and ``ShardImageDataset`` with crops."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torchvision.io import decode_image, encode_jpeg, encode_png

from sce_video_data.cli import main
from sce_video_data.indexes.images import imagefolder_index, stored_image_size
from sce_video_data.loading.batch_sampler import BatchRequest, ResumableBatchSampler, sample_seed
from sce_video_data.loading.batches import PendingBatch
from sce_video_data.loading.images import ShardImageDataset
from sce_video_data.loading.loader import BatchLoader
from sce_video_data.transforms import CenterCrop, MultiCrop, RandomResizedCrop, image_sce_views

pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")


def _image(seed: int, height: int, width: int) -> torch.Tensor:
    """A smooth (JPEG-friendly) random RGB image (3, H, W)."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(1, 3, 4, 4, generator=g)
    big = torch.nn.functional.interpolate(small, size=(height, width), mode="bilinear", align_corners=False)
    return (big[0] * 255).round().to(torch.uint8)


@pytest.fixture(scope="module")
def image_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("imagefolder")
    for name in ("cat", "dog"):
        (root / name).mkdir()
    (root / "cat" / "a.jpg").write_bytes(bytes(encode_jpeg(_image(0, 40, 60), quality=95).numpy()))
    (root / "cat" / "b.png").write_bytes(bytes(encode_png(_image(1, 50, 30)).numpy()))
    (root / "dog" / "c d.jpg").write_bytes(bytes(encode_jpeg(_image(2, 36, 36), quality=95).numpy()))
    (root / "dog" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg" * 10)
    (root / "dog" / "empty.png").write_bytes(b"")
    (root / "dog" / "notes.txt").write_text("ignored: not an image extension")
    return root


@pytest.fixture(scope="module")
def shards(image_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    out = tmp_path_factory.mktemp("image_shards") / "shards"
    args = ["build", "--layout", "imagefolder", "--root", str(image_tree), "--out", str(out), "--short-side", "32"]
    return out, main([*args, "--quality", "95", "--no-progress"]), str(image_tree)


def test_index_lists_images_only(image_tree: Path) -> None:
    items, names = imagefolder_index(image_tree)
    assert names == ["cat", "dog"]
    assert items == [
        ("cat/a.jpg", 0),
        ("cat/b.png", 0),
        ("dog/c d.jpg", 1),
        ("dog/corrupt.jpg", 1),
        ("dog/empty.png", 1),
    ]


def test_stored_size_reduces_short_side_only() -> None:
    assert stored_image_size(60, 40, 32) == (48, 32)
    assert stored_image_size(30, 50, 32) == (30, 50)  # never enlarged
    assert stored_image_size(60, 40, 0) == (60, 40)


def test_build_reports_bad_files_and_serves_the_rest(shards: tuple[Path, int, str]) -> None:
    out, status, _ = shards
    assert status == 0
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert sorted(f["path"] for f in failures) == ["dog/corrupt.jpg", "dog/empty.png"]
    assert all(f["reason"] for f in failures)
    data = ShardImageDataset(out)
    assert len(data) == 3 and data.class_names == ["cat", "dog"]
    samples = [data[i] for i in range(3)]
    assert [s["label"] for s in samples] == [0, 0, 1]
    assert [tuple(s["image"].shape) for s in samples] == [(32, 48, 3), (50, 30, 3), (32, 32, 3)]


def test_stored_images_match_the_sources(shards: tuple[Path, int, str]) -> None:
    out, _, root = shards
    data = ShardImageDataset(out)
    source = decode_image(str(Path(root) / "cat" / "b.png")).permute(1, 2, 0)  # stored without resizing
    error = (data[1]["image"].float() - source.float()).pow(2).mean()
    assert float(10 * torch.log10(255**2 / error)) > 35  # JPEG quality 95


def test_two_crops_through_a_loader_and_the_device_stage(shards: tuple[Path, int, str]) -> None:
    out, _, _ = shards
    crops = MultiCrop((RandomResizedCrop(16, scale=(0.2, 1.0), antialias=True),) * 2)
    dataset = ShardImageDataset(out, transform=crops)
    sampler = ResumableBatchSampler(3, 3, seed=1)
    batch = next(iter(BatchLoader(dataset, sampler, num_workers=1)))
    assert len(batch["image"]) == 2 and all(v.shape == (3, 16, 16, 3) for v in batch["image"])
    assert sorted(batch["index"].tolist()) == [0, 1, 2]
    request = next(iter(sampler))
    for row, (index, position) in enumerate(zip(request.indices, request.positions, strict=True)):
        plan = dataset.plan(index, torch.Generator().manual_seed(sample_seed(1, 0, position)))
        image = dataset.reader.read_frames(index, [0])[0]
        for view, crop in zip(batch["image"], plan.clips[0].views, strict=True):
            assert torch.equal(view[row], crop.apply(image))
    assert not torch.equal(batch["image"][0], batch["image"][1])  # two independent crops
    views = [
        view(x, torch.Generator().manual_seed(0)) for view, x in zip(image_sce_views(), batch["image"], strict=True)
    ]
    assert all(v.shape == (3, 3, 16, 16) and v.dtype == torch.float32 for v in views)


def test_image_batches_of_one_crop_and_of_mixed_sizes(shards: tuple[Path, int, str]) -> None:
    out, _, _ = shards
    request = BatchRequest((2, 0, 1), (0, 1, 2))
    cropped = ShardImageDataset(out, transform=CenterCrop(24))
    batch = cropped[request]
    assert batch["image"].shape == (3, 24, 24, 3) and batch["label"].tolist() == [1, 0, 0]
    for row, index in enumerate(request.indices):
        assert torch.equal(batch["image"][row], CenterCrop(24)(cropped.reader.read_frames(index, [0])[0]))
    plain = ShardImageDataset(out)[request]  # stored sizes differ: one image per sample
    assert [tuple(image.shape) for image in plain["image"]] == [(32, 32, 3), (32, 48, 3), (50, 30, 3)]
    plans = cropped.plans(request)
    finished = PendingBatch(cropped.layout, plans, cropped.jpeg_bytes(plans)).finish("cpu")
    assert torch.equal(finished["image"], batch["image"]) and torch.equal(finished["index"], batch["index"])


def test_video_shards_are_rejected(tmp_path: Path, index_videos: Path) -> None:
    out = tmp_path / "videos"
    assert main(["build", "--layout", "folders", "--root", str(index_videos), "--out", str(out), "--no-progress"]) == 0
    with pytest.raises(ValueError, match="expected images"):
        ShardImageDataset(out)
