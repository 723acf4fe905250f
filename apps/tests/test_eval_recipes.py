"""Every evaluation recipe (linear, finetune, extract) loads, and its resolved values equal SPEC 5.1-5.4."""

from __future__ import annotations

import pytest

from sce_apps.classify.recipes import RECIPE_DIRS, load_classify_recipe
from sce_apps.extract import extract
from sce_apps.optim import scaled_lr
from sce_apps.recipes import CONFIGS_DIR, parse_recipe

# name: (trunk, frames, devices)
LINEAR_VIDEO = {
    "r3d18_kinetics200": ("r3d18", 8, 2),
    "r3d18_kinetics400": ("r3d18", 8, 8),
    "r3d50_kinetics400_8f": ("r3d50", 8, 8),
    "r3d50_kinetics400_16f": ("r3d50", 16, 8),
}
# name: (trunk, frames, classes)
FINETUNE = {
    "r3d50_ucf101_8f": ("r3d50", 8, 101),
    "r3d50_ucf101_16f": ("r3d50", 16, 101),
    "r3d50_hmdb51_8f": ("r3d50", 8, 51),
    "r3d50_hmdb51_16f": ("r3d50", 16, 51),
    "r3d18_ucf101": ("r3d18", 8, 101),
    "r3d18_hmdb51": ("r3d18", 8, 51),
}
EXTRACT = {"r3d50_ucf101_8f": 8, "r3d50_ucf101_16f": 16, "r3d50_hmdb51_8f": 8, "r3d50_hmdb51_16f": 16}


def test_every_recipe_file_is_covered() -> None:
    assert {p.stem for p in RECIPE_DIRS["linear"].glob("*.yaml")} == {*LINEAR_VIDEO, "resnet50_imagenet", "demo"}
    assert {p.stem for p in RECIPE_DIRS["finetune"].glob("*.yaml")} == {*FINETUNE, "demo"}
    assert {p.stem for p in (CONFIGS_DIR / "extract").glob("*.yaml")} == {*EXTRACT, "demo"}


def _test_views_are_spec_5_2(data) -> None:
    assert (data.eval_clips, data.eval_crops, data.eval_short_side, data.eval_crop_size) == (10, 3, 256, 256)
    assert data.clip_duration == 2.56 and data.train_crop_size == 224 and tuple(data.train_short_side) == (256, 320)
    assert data.format == "video_shards" and data.val == "heldout"


@pytest.mark.parametrize("name", sorted(LINEAR_VIDEO))
def test_video_linear_recipes_match_spec_5_2(name: str) -> None:
    trunk, frames, devices = LINEAR_VIDEO[name]
    config, rest = load_classify_recipe("linear", RECIPE_DIRS["linear"] / f"{name}.yaml")
    assert (config.model.trunk, config.data.frames, config.fabric.devices) == (trunk, frames, devices)
    assert config.model.freeze_trunk and config.model.dropout == 0.0 and config.model.prefix == "auto"
    _test_views_are_spec_5_2(config.data)
    assert config.data.augment == "linear"
    assert scaled_lr(config.optim.initial_lr, config.train.global_batch_size) == pytest.approx(4.0)
    assert (config.optim.momentum, config.optim.weight_decay, config.optim.warmup_epochs) == (0.9, 0.0, 8)
    assert (config.train.global_batch_size, config.train.max_epochs, config.train.val_every_epochs) == (512, 60, 5)
    assert config.fabric.precision == "32-true" and not config.fabric.sync_batchnorm
    assert rest["out_dir"].name == name


def test_image_linear_recipe_matches_spec_5_1() -> None:
    config, _ = load_classify_recipe("linear", RECIPE_DIRS["linear"] / "resnet50_imagenet.yaml")
    data = config.data
    assert config.model.trunk == "resnet50" and config.model.freeze_trunk and data.format == "image_shards"
    assert data.train_crop_size == 224 and tuple(data.train_crop_scale) == (0.08, 1.0) and data.augment == "linear"
    assert (data.eval_clips, data.eval_crops, data.eval_short_side, data.eval_crop_size) == (1, 1, 256, 224)
    assert scaled_lr(config.optim.initial_lr, config.train.global_batch_size) == pytest.approx(0.4)
    assert (config.optim.weight_decay, config.optim.warmup_epochs) == (0.0, 0)
    assert (config.train.global_batch_size, config.train.max_epochs, config.fabric.devices) == (1024, 90, 8)
    assert config.fabric.precision == "32-true" and not config.fabric.sync_batchnorm


@pytest.mark.parametrize("name", sorted(FINETUNE))
def test_finetune_recipes_match_spec_5_3(name: str) -> None:
    trunk, frames, classes = FINETUNE[name]
    config, _ = load_classify_recipe("finetune", RECIPE_DIRS["finetune"] / f"{name}.yaml")
    assert (config.model.trunk, config.data.frames, config.model.num_classes) == (trunk, frames, classes)
    assert not config.model.freeze_trunk and config.model.dropout == 0.8
    _test_views_are_spec_5_2(config.data)
    assert config.data.augment == "finetune"
    assert scaled_lr(config.optim.initial_lr, config.train.global_batch_size) == pytest.approx(0.025)
    assert (config.optim.momentum, config.optim.weight_decay, config.optim.warmup_epochs) == (0.9, 0.0, 0)
    assert (config.train.global_batch_size, config.train.max_epochs) == (64, 200)
    assert (config.fabric.devices, config.fabric.precision, config.fabric.sync_batchnorm) == (8, "32-true", True)
    fps = "--fps 25" if "ucf101" in name else "--fps 30"  # SPEC 5.3: frames at 25 (UCF101) / 30 (HMDB51) fps
    assert fps in (RECIPE_DIRS["finetune"] / f"{name}.yaml").read_text()


@pytest.mark.parametrize("name", sorted(EXTRACT))
def test_extract_recipes_match_spec_5_4(name: str) -> None:
    namespace = parse_recipe(extract, "sce extract-features", CONFIGS_DIR / "extract" / f"{name}.yaml")
    features = namespace["features"]
    assert (features.trunk, features.frames, features.clips, features.crops, features.size) == (
        "r3d50",
        EXTRACT[name],
        10,
        3,
        256,
    )
    assert features.clip_duration == 2.56 and features.prefix == "auto"


@pytest.mark.parametrize("protocol", ["linear", "finetune"])
def test_demo_recipes_load_and_overrides_apply(protocol) -> None:
    config, rest = load_classify_recipe(
        protocol, RECIPE_DIRS[protocol] / "demo.yaml", ["--data.train", "/shards/train", "--train.max_epochs", "3"]
    )
    assert config.protocol == protocol and config.data.train == "/shards/train" and config.train.max_epochs == 3
    assert config.model.freeze_trunk is (protocol == "linear") and config.fabric.accelerator == "cpu"
    assert rest["test_checkpoint"] is None


def test_help_lists_every_program_with_field_docs(capsys) -> None:
    from sce_apps.cli import main

    for command, words in (("linear-eval", "frozen trunk"), ("finetune", "dropout 0.8 before the head")):
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0
        printed = capsys.readouterr().out
        assert words in printed and "Share of the training videos held out per class" in printed


def test_invalid_values_are_rejected_with_field_name() -> None:
    with pytest.raises(Exception, match="data.val_fraction"):
        load_classify_recipe("finetune", RECIPE_DIRS["finetune"] / "r3d50_ucf101_8f.yaml", ["--data.val_fraction", "2"])
    with pytest.raises(Exception, match="optim.initial_lr"):
        load_classify_recipe("linear", RECIPE_DIRS["linear"] / "demo.yaml", ["--optim.initial_lr", "0"])
