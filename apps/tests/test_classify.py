"""`sce linear-eval` and `sce finetune` on tiny real-video shards: outputs, frozen trunk, resume, test-only, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from eval_helpers import APPS, authors_checkpoint, build_tiny_shards
from pretrain_helpers import fabric_command, load, logged

from sce_apps.classify import (
    ClassifyDataConfig,
    ClassifyModelConfig,
    LinearHead,
    accuracy,
    finetune,
    linear_eval,
    multiview_probabilities,
)
from sce_apps.classify.data import eval_dataset, group_key, heldout_split
from sce_apps.classify.model import build_classifier
from sce_apps.classify.program import BEST
from sce_apps.engine.sections import FabricConfig, OptimConfig, TrainConfig
from sce_backbones import build_trunk, load_trunk_weights
from sce_video_data import VIDEO_MEAN, VIDEO_STD, Normalize, to_float_batch

WIDTH = 8
"""Every trunk here is R3D-18 at width 8 (64 features): small checkpoints, quick steps."""
TINY_DATA = {
    "frames": 2, "train_short_side": (32, 40), "train_crop_size": 24, "eval_clips": 2, "eval_crops": 3,
    "eval_short_side": 32, "eval_crop_size": 32, "eval_batch_size": 3, "num_workers": 0, "val_fraction": 0.2,
}  # fmt: skip
TINY_ARGS = [
    "--data.frames", "2", "--data.train_short_side", "[32, 40]", "--data.train_crop_size", "24",
    "--data.eval_clips", "2", "--data.eval_short_side", "32", "--data.eval_crop_size", "32",
    "--data.eval_batch_size", "3", "--data.num_workers", "0", "--data.val_fraction", "0.2",
    "--train.global_batch_size", "4", "--train.log_every_steps", "1", "--train.val_every_epochs", "2",
    "--model.trunk_width", str(WIDTH), "--fabric.accelerator", "cpu",
]  # fmt: skip


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> dict[str, Path]:
    return build_tiny_shards(tmp_path_factory.mktemp("classify"), train_per_class=8, test_per_class=2)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    return authors_checkpoint(tmp_path_factory.mktemp("authors") / "authors.ckpt", width=WIDTH)


def _sections(shards: dict[str, Path], checkpoint: Path | None, *, data=None, model=None, optim=None, train=None):
    return {
        "data": ClassifyDataConfig(
            train=str(shards["train"]), test=str(shards["test"]), **{**TINY_DATA, **(data or {})}
        ),
        "model": ClassifyModelConfig(
            checkpoint=None if checkpoint is None else str(checkpoint), **{"trunk_width": WIDTH, **(model or {})}
        ),
        "optim": OptimConfig(
            **{"name": "sgd", "weight_decay": 0.0, "initial_lr": 2.0, "warmup_epochs": 1, **(optim or {})}
        ),
        "train": TrainConfig(
            **{"global_batch_size": 4, "max_epochs": 4, "val_every_epochs": 2, "log_every_steps": 1, **(train or {})}
        ),
        "fabric": FabricConfig(accelerator="cpu", sync_batchnorm=False),
    }


@pytest.fixture(scope="module")
def linear_run(shards, pretrained, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("linear")
    linear_eval(**_sections(shards, pretrained), out_dir=out)
    return out


def test_heldout_split_keeps_groups_whole_and_is_stratified() -> None:
    ids = [f"{c}/v_{c}_g{g:02d}_c{k:02d}.avi" for c in ("A", "B") for g in range(1, 6) for k in range(1, 5)]
    labels = [0] * 20 + [1] * 20
    train, val = heldout_split(ids, labels, 0.2, seed=0)
    assert sorted(train + val) == list(range(40)) and not set(train) & set(val)
    assert [labels[r] for r in val].count(0) == [labels[r] for r in val].count(1) == 4  # one group of 4 per class
    val_groups = {(labels[r], group_key(ids[r])) for r in val}
    assert len(val_groups) == 2 and all(
        (labels[r], group_key(ids[r])) not in val_groups for r in train
    )  # no group is split
    assert heldout_split(ids, labels, 0.2, seed=0) == (train, val)
    assert heldout_split(ids, labels, 0.2, seed=1) != (train, val)
    plain = [f"video_{i}.mp4" for i in range(10)]  # no group in the name: items are held out one by one
    assert len(heldout_split(plain, [0] * 5 + [1] * 5, 0.2, seed=0)[1]) == 2


def test_heldout_split_refuses_classes_of_one_group() -> None:
    ids = [f"A/v_A_g01_c0{k}.avi" for k in range(1, 5)]
    with pytest.raises(ValueError, match="no validation item could be held out"):
        heldout_split(ids, [0] * 4, 0.5, seed=0)


def test_accuracy_is_hand_computed() -> None:
    probabilities = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.5, 0.4, 0.1], [0.2, 0.2, 0.6]])
    labels = torch.tensor([0, 1, 1, 2])
    result = accuracy(probabilities, labels)
    assert result.top1 == 0.5 and result.top5 == 1.0 and result.count == 4  # top-5 is over all 3 classes
    expected = -(torch.tensor([0.7, 0.3, 0.4, 0.6]).log().mean())
    assert result.loss == pytest.approx(float(expected))


def test_multiview_average_equals_mean_of_views_one_by_one(shards: dict[str, Path]) -> None:
    torch.manual_seed(0)
    model = build_classifier(ClassifyModelConfig(trunk_width=WIDTH), num_classes=2).eval()
    dataset = eval_dataset(ClassifyDataConfig(**TINY_DATA), str(shards["test"]))
    video = torch.stack([dataset[0]["video"], dataset[1]["video"]])  # (2, clips, crops, T, H, W, 3)
    assert video.shape[1:4] == (2, 3, 2)
    normalize = Normalize(VIDEO_MEAN, VIDEO_STD)
    averaged = multiview_probabilities(model, video, normalize)
    with torch.no_grad():
        views = [
            torch.softmax(model(normalize(to_float_batch(video[:, c, v]))), dim=-1) for c in range(2) for v in range(3)
        ]
    torch.testing.assert_close(averaged, torch.stack(views).mean(dim=0), rtol=1e-5, atol=1e-6)
    assert torch.allclose(averaged.sum(dim=1), torch.ones(2))


def test_head_initialisation() -> None:
    torch.manual_seed(0)
    head = LinearHead(2048, 400, dropout=0.8)
    assert head.linear.weight.std().item() == pytest.approx(0.01, rel=0.02)  # N(0, 0.01), SPEC 5.1
    assert torch.equal(head.linear.bias, torch.zeros(400))
    assert isinstance(head.dropout, torch.nn.Dropout) and head.dropout.p == 0.8


def test_linear_eval_writes_results_checkpoints_logs(linear_run: Path, shards: dict[str, Path]) -> None:
    results = json.loads((linear_run / "results.json").read_text())
    assert results["protocol"] == "linear" and results["classes"] == 2 and results["selected_on_test"] is False
    assert results["validation"].startswith("held out: 8 of 16 training items")  # one group of 4 per class
    for name in ("last", "best"):
        assert results[name]["count"] == 4 and 0 <= results[name]["top1"] <= results[name]["top5"] == 1.0
    assert results["best"]["epoch"] in (2, 4) and results["last"]["step"] == 8
    checkpoints = sorted(p.name for p in (linear_run / "checkpoints").iterdir())
    assert checkpoints == ["best.ckpt", "step-00000006.ckpt", "step-00000008.ckpt"]
    lrs = logged(linear_run, "lr")
    assert lrs[1] == 0.0 and max(lrs.values()) == pytest.approx(2.0 * 4 / 256)  # warmup from 0 (SPEC 2.7, 5.2)
    assert sorted(logged(linear_run, "val_top1")) == [4, 8]  # validation every 2 epochs of 2 steps
    assert (linear_run / "plots" / "training_curves.png").stat().st_size > 1000
    assert "freeze_trunk: true" in (linear_run / "config.yaml").read_text()


def test_linear_eval_keeps_the_pretrained_trunk_frozen(linear_run: Path, pretrained: Path) -> None:
    source = load(pretrained)["state_dict"]
    state = load(linear_run / "checkpoints" / "step-00000008.ckpt")["model"]
    trunk = {k[len("trunk.") :]: v for k, v in state.items() if k.startswith("trunk.")}
    assert trunk and all(torch.equal(v, source[f"trunk.model.{k}"]) for k, v in trunk.items())  # BN stats too
    assert state["head.linear.weight"].shape == (2, 8 * WIDTH)
    assert not torch.equal(state["head.linear.bias"], torch.zeros(2))  # the head trained


def test_finetune_trains_the_trunk_without_warmup(shards: dict[str, Path], pretrained: Path, tmp_path: Path) -> None:
    sections = _sections(
        shards,
        pretrained,
        data={"augment": "finetune", "val": "test"},
        model={"freeze_trunk": False, "dropout": 0.8},
        optim={"initial_lr": 0.1, "warmup_epochs": 0},
        train={"max_epochs": 2},
    )
    finetune(**sections, out_dir=tmp_path)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["protocol"] == "finetune" and results["selected_on_test"] is True
    assert results["validation"].startswith("test split (the authors' setting")
    assert results["last"]["count"] == 4
    state = load(tmp_path / "checkpoints" / "step-00000008.ckpt")["model"]
    source = load(pretrained)["state_dict"]
    assert not torch.equal(state["trunk.blocks.0.conv.weight"], source["trunk.model.blocks.0.conv.weight"])
    lrs = logged(tmp_path, "lr")
    assert lrs[1] == pytest.approx(0.1 * 4 / 256)  # no warmup: the first step uses the peak LR (SPEC 5.3)
    trunk = build_trunk("r3d18", width=WIDTH)  # a finetuned trunk loads where pretrained ones do (sce extract-features)
    assert load_trunk_weights(trunk, tmp_path / "checkpoints" / BEST).prefix == "trunk."


def test_finetune_starts_from_a_linear_eval_checkpoint(
    linear_run: Path, shards: dict[str, Path], tmp_path: Path
) -> None:
    """LP-FT: ``model.init_from`` gives trunk *and* head of the linear run; mismatches are refused."""
    best = linear_run / "checkpoints" / BEST
    model = build_classifier(ClassifyModelConfig(trunk_width=WIDTH, freeze_trunk=False, init_from=str(best)), 2)
    saved = load(best)["model"]
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())
    assert not torch.equal(saved["head.linear.bias"], torch.zeros(2))
    sections = _sections(
        shards,
        None,
        data={"augment": "finetune"},
        model={"freeze_trunk": False, "init_from": str(best)},
        optim={"initial_lr": 0.1, "warmup_epochs": 0},
        train={"max_epochs": 2},
    )
    finetune(**sections, out_dir=tmp_path / "lpft")
    state = load(sorted((tmp_path / "lpft" / "checkpoints").glob("step-*.ckpt"))[-1])["model"]
    assert not torch.equal(state["trunk.blocks.0.conv.weight"], saved["trunk.blocks.0.conv.weight"])
    with pytest.raises(ValueError, match=r"its head \(2 classes x 64 features\) does not fit this one \(3 classes"):
        build_classifier(ClassifyModelConfig(trunk_width=WIDTH, init_from=str(best)), 3)
    with pytest.raises(ValueError, match="holds a r3d18 trunk, not model.trunk=r3d50"):
        build_classifier(ClassifyModelConfig(trunk="r3d50", trunk_width=WIDTH, init_from=str(best)), 2)
    with pytest.raises(ValueError, match=r"holds a r3d18 trunk of width 8; set model.trunk_width=8 \(now 64\)"):
        build_classifier(ClassifyModelConfig(init_from=str(best)), 2)
    with pytest.raises(ValueError, match="exclude each other"):
        ClassifyModelConfig(checkpoint="a.ckpt", init_from=str(best))
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        build_classifier(ClassifyModelConfig(trunk_width=WIDTH, init_from=str(tmp_path / "missing.ckpt")), 2)


def test_test_checkpoint_gives_the_reported_numbers(linear_run: Path, shards: dict[str, Path], tmp_path: Path) -> None:
    sections = _sections(shards, None)
    linear_eval(**sections, out_dir=tmp_path, test_checkpoint=str(linear_run / "checkpoints" / "step-00000008.ckpt"))
    again = json.loads((tmp_path / "results.json").read_text())
    reported = json.loads((linear_run / "results.json").read_text())["last"]
    assert again["test"]["top1"] == reported["top1"] and again["test"]["count"] == 4
    assert again["test"]["loss"] == pytest.approx(reported["loss"], rel=1e-5)
    assert again["trunk"] == "r3d18" and again["step"] == 8


def test_killed_run_resumes_to_the_same_weights(
    linear_run: Path, shards: dict[str, Path], pretrained: Path, tmp_path: Path
) -> None:
    args = [
        *TINY_ARGS, "--data.train", str(shards["train"]), "--data.test", str(shards["test"]), "--model.checkpoint",
        str(pretrained), "--optim.initial_lr", "2.0", "--optim.warmup_epochs", "1", "--train.max_epochs", "4",
        "--out_dir", str(tmp_path),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    script = str(APPS / "linear_eval.py")
    killer = Path(__file__).with_name("kill_after_checkpoint.py")
    killed = subprocess.run(
        [sys.executable, str(killer), "linear-eval", "4", *args], env=env, capture_output=True, timeout=300
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    target = tmp_path / "checkpoints" / "step-00000004.ckpt"
    assert target.exists(), "the run did not reach its second epoch"
    assert not (tmp_path / "results.json").exists()
    done = subprocess.run(
        [sys.executable, script, *args, "--resume", "auto"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming from" in done.stdout + done.stderr
    resumed = load(tmp_path / "checkpoints" / "step-00000008.ckpt")["model"]
    reference = load(linear_run / "checkpoints" / "step-00000008.ckpt")["model"]
    for key in reference:
        torch.testing.assert_close(resumed[key], reference[key], rtol=1e-5, atol=1e-6, msg=key)
    assert json.loads((tmp_path / "results.json").read_text())["last"]["count"] == 4


def test_mismatched_inputs_are_refused(
    linear_run: Path, shards: dict[str, Path], pretrained: Path, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=r"model.num_classes=5 but the data has 2 classes"):
        linear_eval(**_sections(shards, pretrained, model={"num_classes": 5}), out_dir=tmp_path)
    with pytest.raises(ValueError, match=r"does not hold a r3d50 trunk .* missing keys"):
        linear_eval(**_sections(shards, pretrained, model={"trunk": "r3d50"}), out_dir=tmp_path)
    with pytest.raises(ValueError, match=r"authors.ckpt holds a r3d18 trunk of width 8; set model.trunk_width=8 \(now"):
        linear_eval(**_sections(shards, pretrained, model={"trunk_width": 16}), out_dir=tmp_path)
    with pytest.raises(ValueError, match=r"model.trunk_width=8 applies to r3d18 and r3d50 only; resnet18 has"):
        ClassifyModelConfig(trunk="resnet18", trunk_width=8)
    other = build_tiny_shards(tmp_path / "three", num_classes=3, train_per_class=1, test_per_class=1)
    with pytest.raises(ValueError, match=r"data.train .* has 2 classes but data.test .* has 3"):
        linear_eval(**_sections({**shards, "test": other["test"]}, pretrained), out_dir=tmp_path)
    best = str(linear_run / "checkpoints" / "best.ckpt")
    with pytest.raises(ValueError, match=r"its head predicts 2 classes, but the data has 3"):
        linear_eval(**_sections({**shards, "test": other["test"]}, None), out_dir=tmp_path, test_checkpoint=best)
    with pytest.raises(
        ValueError,
        match=r"authors.ckpt is not an sce checkpoint \(format None; expected .sce-checkpoint., written by sce linear",
    ):
        linear_eval(**_sections(shards, None), out_dir=tmp_path, test_checkpoint=str(pretrained))
    sections = _sections(shards, pretrained)
    with pytest.raises(FileNotFoundError, match="data.train: not a shard folder"):
        linear_eval(**{**sections, "data": replace(sections["data"], train=str(tmp_path / "none"))}, out_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="model.checkpoint not found"):
        linear_eval(**_sections(shards, tmp_path / "missing.ckpt"), out_dir=tmp_path)
    with pytest.raises(ValueError, match="data.eval_crops must be 1"):
        ClassifyDataConfig(eval_crops=2)
    with pytest.raises(ValueError, match="model.dropout"):
        ClassifyModelConfig(dropout=1.0)


def test_two_processes_train_and_test_like_one(shards: dict[str, Path], pretrained: Path, tmp_path: Path) -> None:
    """A 2-process run (DDP head, each process testing a slice) reports what 1 process computes from its weights."""
    double = tmp_path / "double"
    command = [
        *fabric_command(), "run", "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp",
        str(APPS / "linear_eval.py"), *TINY_ARGS, "--data.train", str(shards["train"]), "--data.test",
        str(shards["test"]), "--model.checkpoint", str(pretrained), "--train.max_epochs", "2", "--out_dir", str(double),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env={**os.environ})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    two = json.loads((double / "results.json").read_text())
    assert two["last"]["count"] == 4 and two["best"]["count"] == 4
    single = tmp_path / "single"
    last = double / "checkpoints" / "step-00000004.ckpt"
    linear_eval(**_sections(shards, None), out_dir=single, test_checkpoint=str(last))
    one = json.loads((single / "results.json").read_text())["test"]
    assert (one["top1"], one["top5"], one["count"]) == (two["last"]["top1"], two["last"]["top5"], 4)
    assert one["loss"] == pytest.approx(two["last"]["loss"], rel=1e-5)
