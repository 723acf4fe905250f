"""Shards stored smaller than a recipe's protocol: the programs warn, naming the folder and the build flag."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from pretrain_helpers import tiny_sections

from sce_apps.classify import ClassifyDataConfig, linear_eval
from sce_apps.classify.recipes import load_classify_recipe
from sce_apps.engine.sections import FabricConfig
from sce_apps.extract import ExtractConfig, extract
from sce_apps.pretrain import setup
from sce_apps.pretrain.recipes import RECIPES_DIR, load_recipe
from sce_apps.shard_checks import (
    LowResolutionShardsWarning,
    check_classify_shards,
    check_extract_shards,
    check_pretrain_shards,
    pretrain_short_side,
)
from sce_video_data import EncodeParams, build_shards, folders_index
from sce_video_data.synthetic import write_index_shards, write_index_video

CONFIGS = RECIPES_DIR.parent
pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Shards of two tiny generated videos at short side 128, 256 and 0 (the source's 96)."""
    root = tmp_path_factory.mktemp("shard_checks")
    for name in ("a", "b"):
        write_index_video(root / "videos" / name / "clip.mp4", 4, fps=10, width=128, height=96)
    items, classes = folders_index(root / "videos")
    folders = {}
    for side in (128, 256, 0):
        out = root / f"shards{side}"
        build_shards(items, classes, root / "videos", out, params=EncodeParams(short_side=side), progress=False)
        folders[side] = out
    return folders


def test_protocol_short_side_of_pretraining_crops() -> None:
    assert pretrain_short_side(224) == 256 and pretrain_short_side(112) == 128
    assert pretrain_short_side(48) == 55  # the demo: its 96-px shards are enough


def test_128px_shards_under_a_224px_pretraining_recipe_warn(built: dict[int, Path]) -> None:
    config, _ = load_recipe(RECIPES_DIR / "r3d18_kinetics400.yaml", ["--data.path", str(built[128])])
    with pytest.warns(LowResolutionShardsWarning) as caught:
        messages = check_pretrain_shards(config.data)
    assert len(messages) == 1 == len(caught) and str(caught[0].message) == messages[0]
    line = messages[0]
    assert str(built[128]) in line and "short side 128" in line and "data.crop_size=224" in line
    assert "at least 256" in line and "`sce-shards build ... --short-side 256`" in line
    assert check_pretrain_shards(config.data, rank=1) == []  # only rank 0 reads and warns


def test_matching_or_source_size_shards_do_not_warn(built: dict[int, Path]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for side in (256, 0):  # 0: the source size is kept, rebuilding cannot add detail
            config, _ = load_recipe(RECIPES_DIR / "r3d18_kinetics400.yaml", ["--data.path", str(built[side])])
            assert check_pretrain_shards(config.data) == []
        demo, _ = load_recipe(RECIPES_DIR / "demo.yaml", ["--data.path", str(built[128])])
        assert check_pretrain_shards(demo.data) == []
        synthetic, _ = load_recipe(RECIPES_DIR / "r3d18_kinetics400.yaml", ["--data.format", "synthetic"])
        assert check_pretrain_shards(synthetic.data) == []


def test_evaluation_recipes_check_train_and_test_shards(built: dict[int, Path]) -> None:
    args = ["--data.train", str(built[128]), "--data.test", str(built[256])]
    config, _ = load_classify_recipe("linear", CONFIGS / "linear" / "r3d18_kinetics400.yaml", args)
    with pytest.warns(LowResolutionShardsWarning):
        messages = check_classify_shards(config)
    assert len(messages) == 1 and "(data.train)" in messages[0] and "data.eval_short_side=256" in messages[0]
    assert "linear evaluation" in messages[0] and "--short-side 256" in messages[0]
    args = ["--data.train", str(built[256]), "--data.test", str(built[128])]
    config, _ = load_classify_recipe("finetune", CONFIGS / "finetune" / "r3d50_ucf101_8f.yaml", args)
    with pytest.warns(LowResolutionShardsWarning):
        messages = check_classify_shards(config, test_only=True)
    assert len(messages) == 1 and "finetuning" in messages[0] and "(data.test)" in messages[0]


def test_extraction_needs_its_view_size(built: dict[int, Path]) -> None:
    with pytest.warns(LowResolutionShardsWarning, match=r"features\.size=256.*--short-side 256"):
        assert len(check_extract_shards(ExtractConfig(shards=str(built[128]), out="x.npz", size=256))) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_extract_shards(ExtractConfig(shards=str(built[128]), out="x.npz", size=128)) == []


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated shards of 8 items of 32 × 24 frames (no build parameters: the index gives short side 24)."""
    return write_index_shards(tmp_path_factory.mktemp("small") / "shards", 8, frames=10, sizes=((32, 24),))


class _StopError(Exception):
    """Raised where the program starts reading its data: the check must have run before."""


def _stop(*args: object, **kwargs: object) -> None:
    raise _StopError


def test_programs_warn_before_reading_data(small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for module, name in (("pretrain", "build_dataset"), ("classify", "build_splits"), ("extract", "multiview_dataset")):
        monkeypatch.setattr(f"sce_apps.{module}.program.{name}", _stop)
    data = {"format": "video_shards", "path": str(small), "crop_size": 32}
    with pytest.warns(LowResolutionShardsWarning, match=r"short side 24.*--short-side 37"), pytest.raises(_StopError):
        setup(**tiny_sections(data=data), out_dir=tmp_path / "pretrain")
    classify = ClassifyDataConfig(train=str(small), val="none", train_short_side=(32, 40), train_crop_size=24,
                                  eval_short_side=32, eval_crop_size=32)  # fmt: skip
    match = r"data\.eval_short_side=32 \(data\.train\)"
    with pytest.warns(LowResolutionShardsWarning, match=match), pytest.raises(_StopError):
        linear_eval(data=classify, fabric=FabricConfig(accelerator="cpu"), out_dir=tmp_path / "linear")
    config = ExtractConfig(str(small), str(tmp_path / "bank.npz"), size=32)
    with pytest.warns(LowResolutionShardsWarning, match=r"features\.size=32"), pytest.raises(_StopError):
        extract(config, FabricConfig(accelerator="cpu"))
