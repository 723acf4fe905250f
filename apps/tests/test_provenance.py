"""Provenance: every checkpoint, bank, results.json and run log says what it came from; `sce provenance`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from eval_helpers import build_tiny_shards
from pretrain_helpers import TINY_ARGS, load

from sce_apps import cli
from sce_apps.classify import ClassifyDataConfig, ClassifyModelConfig, linear_eval
from sce_apps.engine.provenance import diff_records, read_provenance, record_hash, set_invocation
from sce_apps.engine.sections import FabricConfig, OptimConfig, TrainConfig
from sce_apps.extract import ExtractConfig, extract
from sce_retrieval import FeatureBank
from sce_video_data import shard_provenance

pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Shards -> pretraining (through the command line) -> features and linear evaluation of its checkpoint."""
    root = tmp_path_factory.mktemp("provenance")
    shards = build_tiny_shards(root, train_per_class=8, test_per_class=2)
    pretrain = root / "pretrain"
    cli.main(["pretrain", *TINY_ARGS, "--out_dir", str(pretrain)])
    set_invocation(None, None, [])  # what follows runs from Python
    checkpoint = pretrain / "checkpoints" / "step-00000006.ckpt"
    config = ExtractConfig(
        shards=str(shards["train"]), out=str(root / "bank.npz"), checkpoint=str(checkpoint), trunk_width=8,
        frames=2, clips=1, crops=1, size=32, batch_size=4, num_workers=0,
    )  # fmt: skip
    bank = extract(config, FabricConfig(accelerator="cpu"))
    results = linear_eval(
        data=ClassifyDataConfig(
            train=str(shards["train"]), test=str(shards["test"]), frames=2, train_short_side=(32, 40),
            train_crop_size=24, eval_clips=1, eval_crops=1, eval_short_side=32, eval_crop_size=32,
            eval_batch_size=4, num_workers=0, val_fraction=0.2,
        ),  # fmt: skip
        model=ClassifyModelConfig(checkpoint=str(checkpoint), trunk_width=8, freeze_trunk=True, dropout=0.0),
        optim=OptimConfig(name="sgd", weight_decay=0.0, initial_lr=2.0, warmup_epochs=1),
        train=TrainConfig(global_batch_size=4, max_epochs=2, val_every_epochs=2, log_every_steps=1),
        fabric=FabricConfig(accelerator="cpu", sync_batchnorm=False),
        out_dir=root / "linear",
    )
    return {**shards, "pretrain": pretrain, "checkpoint": checkpoint, "bank": bank, "results": results}


def test_a_run_records_its_invocation_versions_and_what_ran(chain: dict[str, Path]) -> None:
    settings = yaml.safe_load((chain["pretrain"] / "config.yaml").read_text())
    record = settings["provenance"]
    assert record["program"] == "pretrain" and record["hash"] == record_hash(record)
    assert record["invocation"] == {
        "command": "sce pretrain",
        "recipe": None,
        "overrides": [*TINY_ARGS, "--out_dir", str(chain["pretrain"])],
    }
    assert (record["world_size"], record["num_nodes"], record["precision"]) == (1, 1, "32-true")
    assert {"sce-apps", "sce-losses", "sce-backbones", "sce-video-data", "torch", "torchvision", "av"} <= set(
        record["versions"]
    )
    assert record["decoder"] == {"data": "synthetic (nothing decoded)"}
    assert record["effective_lr"]["global_batch_size"] == 4
    assert record["datasets"] == {} and record["started_from"] == {}  # synthetic data, random initialisation
    # the same record in every checkpoint and at the head of the metrics log
    assert load(chain["checkpoint"])["provenance"] == record
    head = json.loads((chain["pretrain"] / "metrics.jsonl").read_text().splitlines()[0])
    assert head == {"provenance": record}


def test_features_and_evaluations_trace_back_to_shards_and_checkpoint(chain: dict[str, Path]) -> None:
    pretrained = load(chain["checkpoint"])["provenance"]["hash"]
    bank = FeatureBank.load(chain["bank"]).metadata["provenance"]
    assert bank["program"] == "extract" and bank["invocation"]["overrides"] == []
    assert bank["datasets"]["features.shards"]["content_hash"] == shard_provenance(chain["train"])["content_hash"]
    assert bank["datasets"]["features.shards"]["split"] == "train 1"
    assert bank["started_from"]["features.checkpoint"]["provenance_hash"] == pretrained
    assert bank["decoder"]["features"].startswith("jpeg: ") and bank["decoder"]["features"].endswith(", cpu")
    results = json.loads(chain["results"].read_text())["provenance"]
    assert results["program"] == "linear"
    for name, split in (("data.train", "train"), ("data.test", "test")):
        assert results["datasets"][name]["content_hash"] == shard_provenance(chain[split])["content_hash"]
    assert results["started_from"]["model.checkpoint"]["provenance_hash"] == pretrained
    assert results["started_from"]["model.checkpoint"]["checksum"] == load(chain["checkpoint"])["checksum"]


def test_read_provenance_from_every_kind_of_file(chain: dict[str, Path]) -> None:
    record = read_provenance(chain["checkpoint"])
    for path in (chain["pretrain"], chain["pretrain"] / "config.yaml", chain["pretrain"] / "metrics.jsonl"):
        assert read_provenance(path) == record
    assert read_provenance(chain["bank"])["program"] == "extract"
    assert read_provenance(chain["results"])["program"] == "linear"
    shards = read_provenance(chain["train"])
    assert shards["hash"] == shards["content_hash"] == shard_provenance(chain["train"])["content_hash"]
    assert read_provenance(chain["train"] / "manifest.json")["hash"] == shards["hash"]
    assert read_provenance(chain["train"] / "manifest.json")["content_hash"] == shard_provenance(chain["train"])[
        "content_hash"
    ]
    with pytest.raises(ValueError, match="holds no provenance record"):
        read_provenance(chain["train"] / "index" / "meta.json")
    with pytest.raises(FileNotFoundError):
        read_provenance(chain["pretrain"] / "missing.ckpt")


def test_diff_lists_each_difference() -> None:
    a = {"program": "extract", "datasets": {"x": {"content_hash": "sha256:1"}}, "world_size": 1, "hash": "h1"}
    b = {"program": "extract", "datasets": {"x": {"content_hash": "sha256:2"}}, "world_size": 2, "hash": "h2"}
    assert diff_records(a, b) == [
        ("datasets.x.content_hash", "sha256:1", "sha256:2"),
        ("world_size", 1, 2),
    ]
    assert diff_records(a, {**a, "hash": "other"}) == []


def test_sce_provenance_command(chain: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["provenance", str(chain["checkpoint"])])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert out.startswith(f"hash: {load(chain['checkpoint'])['provenance']['hash']}\n")
    assert "program: pretrain\n" in out and "invocation.command: sce pretrain\n" in out
    with pytest.raises(SystemExit) as exit_:
        cli.main(["provenance", str(chain["bank"]), str(chain["results"])])
    out = capsys.readouterr().out
    assert exit_.value.code == 1 and "difference(s):" in out
    assert "  program: extract -> linear\n" in out
    assert "  datasets.data.test.content_hash: None -> sha256:" in out
    with pytest.raises(SystemExit) as exit_:
        cli.main(["provenance", str(chain["checkpoint"]), str(chain["pretrain"])])
    assert exit_.value.code == 0 and capsys.readouterr().out.endswith("same provenance\n")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["provenance", str(chain["pretrain"] / "nothing.ckpt")])
    captured = capsys.readouterr()
    assert exit_.value.code == 2 and captured.err.strip().count("\n") == 0 and "nothing.ckpt" in captured.err
