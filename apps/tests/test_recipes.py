"""Every pretraining recipe loads, and its resolved values equal SPEC 3.4 / 4.4."""

from __future__ import annotations

import pytest

from sce_apps.optim import scaled_lr
from sce_apps.pretrain.recipes import RECIPES_DIR, load_recipe

VIDEO = {
    "coeff": 0.5,
    "temp": 0.1,
    "temp_m": 0.05,
    "initial_momentum": 0.99,
    "lr": 4.8,
    "wd": 1e-6,
    "warmup": 35,
    "epochs": 200,
    "batch": 512,
    "crop_scale": (0.2, 0.766),
    "clip": 2.56,
    "tdiff": 0.2,
}
# name: (trunk, frames, queue, projector hidden, predictor hidden, devices, nodes, checkpoint epochs)
VIDEO_RECIPES = {
    "r3d18_kinetics200": ("r3d18", 8, 32768, (1024, 1024), 1024, 2, 1, 100),
    "r3d18_kinetics400": ("r3d18", 8, 65536, (1024, 1024), 1024, 8, 1, 50),
    "r3d50_kinetics400_8f": ("r3d50", 8, 65536, (4096, 4096), 4096, 8, 1, 50),
    "r3d50_kinetics400_16f": ("r3d50", 16, 65536, (4096, 4096), 4096, 8, 2, 50),
}


def test_every_recipe_file_is_covered() -> None:
    names = {p.stem for p in RECIPES_DIR.glob("*.yaml")}
    assert names == set(VIDEO_RECIPES) | {"resnet50_imagenet", "resnet50_imagenet_multicrop", "demo"}


@pytest.mark.parametrize("name", sorted(VIDEO_RECIPES))
def test_video_recipes_match_spec_4_4(name: str) -> None:
    trunk, frames, queue, proj, pred, devices, nodes, ckpt = VIDEO_RECIPES[name]
    config, _ = load_recipe(RECIPES_DIR / f"{name}.yaml", ["--data.path", "/data"])
    assert (config.model.trunk, config.data.frames, config.sce.queue_size) == (trunk, frames, queue)
    assert (config.model.projector_hidden_dims, config.model.predictor_hidden_dim) == (proj, pred)
    assert config.model.projector_out_dim == 256
    assert (config.sce.coeff, config.sce.temp, config.sce.temp_m) == (VIDEO["coeff"], VIDEO["temp"], VIDEO["temp_m"])
    assert config.sce.use_keys is False and config.sce.momentum_schedule == "cosine"
    assert config.sce.initial_momentum == VIDEO["initial_momentum"]
    assert config.optim.name == "lars" and config.optim.trust_coefficient == 1e-3 and config.optim.momentum == 0.9
    assert scaled_lr(config.optim.initial_lr, config.train.global_batch_size) == pytest.approx(VIDEO["lr"])
    assert config.optim.weight_decay == VIDEO["wd"] and config.optim.warmup_epochs == VIDEO["warmup"]
    assert (config.train.max_epochs, config.train.global_batch_size) == (VIDEO["epochs"], VIDEO["batch"])
    assert tuple(config.data.crop_scale) == VIDEO["crop_scale"] and config.data.crop_size == 224
    assert config.data.clip_duration == VIDEO["clip"] and config.data.time_difference_prob == VIDEO["tdiff"]
    assert config.data.augment == "video_sce"
    assert (config.fabric.devices, config.fabric.num_nodes) == (devices, nodes)
    assert config.fabric.precision == "16-mixed" and config.fabric.sync_batchnorm
    assert config.train.checkpoint_every_epochs == ckpt and config.train.seed == 42
    # SPEC 2.3: K holds 64 steps on K400 and 32 on K200.
    assert queue // (2 * config.train.global_batch_size) == (32 if queue == 32768 else 64)


@pytest.mark.parametrize(
    ("name", "local_crops", "nodes"), [("resnet50_imagenet", 0, 1), ("resnet50_imagenet_multicrop", 4, 2)]
)
def test_image_recipes_match_spec_3_4(name: str, local_crops: int, nodes: int) -> None:
    config, _ = load_recipe(RECIPES_DIR / f"{name}.yaml", ["--data.path", "/data"])
    assert config.model.trunk == "resnet50" and not config.model.small_input
    assert (config.model.projector_hidden_dims, config.model.predictor_hidden_dim) == ((4096, 4096), 4096)
    assert (config.sce.coeff, config.sce.temp, config.sce.temp_m, config.sce.queue_size) == (0.5, 0.1, 0.07, 65536)
    assert scaled_lr(config.optim.initial_lr, config.train.global_batch_size) == pytest.approx(4.8)
    assert (config.optim.weight_decay, config.optim.warmup_epochs) == (1e-6, 10)
    assert (config.train.global_batch_size, config.train.max_epochs) == (4096, 200)
    assert tuple(config.data.crop_scale) == (0.2, 1.0) and config.data.augment == "image_sce"
    assert config.data.num_local_crops == local_crops and config.fabric.num_nodes == nodes
    assert 65536 // (2 * 4096) == 8  # SPEC 2.3: the queue holds the last 8 steps


def test_imagenet_documented_overrides() -> None:
    path = RECIPES_DIR / "resnet50_imagenet.yaml"
    hundred, _ = load_recipe(path, ["--train.max_epochs", "100", "--optim.initial_lr", "0.6"])
    assert scaled_lr(hundred.optim.initial_lr, hundred.train.global_batch_size) == pytest.approx(9.6)
    thousand, _ = load_recipe(path, ["--train.max_epochs", "1000", "--optim.weight_decay", "1.5e-6"])
    assert thousand.optim.weight_decay == 1.5e-6
    assert "--optim.weight_decay 1.5e-6" in path.read_text()  # the override is documented in the recipe


def test_invalid_value_is_rejected_with_field_name() -> None:
    with pytest.raises(Exception, match="temp_m"):
        load_recipe(RECIPES_DIR / "r3d18_kinetics400.yaml", ["--sce.temp_m", "-1"])


def test_print_config_and_help_work(capsys) -> None:
    from sce_apps.cli import main

    with pytest.raises(SystemExit) as info:
        main(["pretrain", "--config", str(RECIPES_DIR / "demo.yaml"), "--data.path", "/shards", "--print_config"])
    assert info.value.code == 0
    printed = capsys.readouterr().out
    assert "path: /shards" in printed and "queue_size: 512" in printed and "trunk: r3d18" in printed
    with pytest.raises(SystemExit) as info:
        main(["pretrain", "--help"])
    assert info.value.code == 0
    assert "Pretrain a trunk with Similarity Contrastive Estimation" in capsys.readouterr().out
