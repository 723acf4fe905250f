"""``hatch run demo``: the project's main job end to end on an embedded real-video dataset.

1. build the demo dataset (H.264 videos in the UCF101 layout) or use ``--data-root`` (any UCF101-layout folder);
2. build train/test shards with ``sce-shards``; pretrain with the ``demo`` recipe
   (``sce_apps/configs/pretrain/demo.yaml``) on the CPU;
3. extract multi-view features of both splits from the final checkpoint and from a randomly initialised trunk, run
   ``sce-retrieval`` (test queries against the train bank): R@1, R@5 and k-NN accuracy of both;
4. ``sce linear-eval`` and ``sce finetune`` of both trunks (``sce_apps/configs/{linear,finetune}/demo.yaml``):
   multi-view test top-1; then a table, ``results.json`` and ``report/report.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from sce_apps.classify.config import Protocol
from sce_apps.classify.program import BEST, finetune, linear_eval
from sce_apps.classify.recipes import RECIPE_DIRS, load_classify_recipe
from sce_apps.demo.make_dataset import make_demo_dataset
from sce_apps.demo.ucf101_layout import locate_ucf101
from sce_apps.engine.atomic import atomic_write_text
from sce_apps.extract import extract
from sce_apps.pretrain.program import setup as pretrain
from sce_apps.pretrain.recipes import RECIPES_DIR, load_recipe
from sce_apps.recipes import parse_recipe, recipes_dir
from sce_retrieval import FeatureBank
from sce_retrieval import cli as retrieval_cli
from sce_video_data import cli as shards_cli

TRUNKS = ("random_init", "sce")


def run_demo(
    out: Path,
    *,
    data_root: Path | None = None,
    seed: int = 0,
    dataset_options: dict[str, Any] | None = None,
    pretrain_overrides: list[str] | None = None,
    extract_overrides: list[str] | None = None,
    linear_overrides: list[str] | None = None,
    finetune_overrides: list[str] | None = None,
    short_side: int = 96,
) -> dict[str, dict[str, float]]:
    """Run the whole demo into ``out`` and return ``{"random_init": {...}, "sce": {...}}`` metrics (fractions).

    Each ``*_overrides`` list holds command-line style overrides of that step's recipe
    (``sce_apps/configs/*/demo.yaml``).
    """
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    videos, splits = _dataset(out, data_root, seed, dataset_options or {})
    shards = {
        split: _build_shards(videos, splits, split, out / "shards" / split, short_side) for split in ("train", "test")
    }
    config, rest = load_recipe(
        RECIPES_DIR / "demo.yaml",
        [
            "--data.path",
            str(shards["train"]),
            "--out_dir",
            str(out / "pretrain"),
            "--resume",
            "auto",
            "--train.seed",
            str(seed),
            *(pretrain_overrides or []),
        ],
    )
    sections = {name: getattr(config, name) for name in ("data", "model", "sce", "optim", "train", "fabric")}
    checkpoint = pretrain(**sections, **rest)
    sources = {"random_init": None, "sce": str(checkpoint)}
    banks = {
        name: _features(source, shards, out / "features", name, seed, extract_overrides)
        for name, source in sources.items()
    }
    results = {name: _retrieval(banks[name], out / "report", name) for name in TRUNKS}
    evaluations: list[tuple[Protocol, list[str] | None]] = [
        ("linear", linear_overrides),
        ("finetune", finetune_overrides),
    ]
    for protocol, overrides in evaluations:
        for name, source in sources.items():
            # finetuning starts from the linear run's trunk and head (LP-FT, the finetune demo recipe says why)
            start = ["--model.init_from", str(out / "linear" / name / "checkpoints" / BEST)]
            weights = start if protocol == "finetune" else (["--model.checkpoint", source] if source else [])
            results[name][f"{protocol}_top1"] = _classify(
                protocol, weights, shards, out / protocol / name, seed, overrides
            )
    _write_results(out, results, time.perf_counter() - started)
    print(_table(results))
    return results


def _dataset(out: Path, data_root: Path | None, seed: int, options: dict[str, Any]) -> tuple[Path, Path]:
    if data_root is not None:
        return locate_ucf101(data_root)
    info = make_demo_dataset(out / "data", seed=seed, progress=True, **options)
    return locate_ucf101(info.root)


def _build_shards(videos: Path, splits: Path, split: str, target: Path, short_side: int) -> Path:
    args = [
        "build",
        "--layout",
        "ucf101",
        "--root",
        str(videos),
        "--splits",
        str(splits),
        "--split",
        split,
        "--split-id",
        "1",
        "--out",
        str(target),
        "--short-side",
        str(short_side),
        "--workers",
        "2",
    ]
    status = shards_cli.main(args)
    if status != 0:
        raise RuntimeError(f"sce-shards {' '.join(args)} failed with exit status {status}")
    return target


def _features(
    source: str | None, shards: dict[str, Path], folder: Path, name: str, seed: int, overrides: list[str] | None
) -> dict[str, Path]:
    """Banks of both splits from the trunk of ``source`` (the checkpoint's online trunk, SPEC 5.1; None: random)."""
    banks = {}
    for split, shard_dir in shards.items():
        args = ["--features.shards", str(shard_dir), "--features.out", str(folder / f"{name}_{split}.npz")]
        args += ["--features.seed", str(seed), *(["--features.checkpoint", source] if source else [])]
        namespace = parse_recipe(
            extract, "sce extract-features", recipes_dir("extract") / "demo.yaml", [*args, *(overrides or [])]
        )
        banks[split] = extract(namespace["features"], namespace["fabric"])
    return banks


def _classify(
    protocol: Protocol, weights: list[str], shards: dict[str, Path], out: Path, seed: int, overrides: list[str] | None
) -> float:
    """Multi-view test top-1 of ``sce linear-eval`` / ``sce finetune`` (demo recipe) from the ``weights`` arguments."""
    args = ["--data.train", str(shards["train"]), "--data.test", str(shards["test"]), "--out_dir", str(out)]
    args += ["--resume", "auto", "--train.seed", str(seed), *weights]
    config, rest = load_classify_recipe(protocol, RECIPE_DIRS[protocol] / "demo.yaml", [*args, *(overrides or [])])
    program = linear_eval if protocol == "linear" else finetune
    sections = {name: getattr(config, name) for name in ("data", "model", "optim", "train", "fabric")}
    results = json.loads(program(**sections, **rest).read_text())
    return float(results["last"]["top1"])


def _retrieval(banks: dict[str, Path], report: Path, name: str) -> dict[str, float]:
    report.mkdir(parents=True, exist_ok=True)
    json_path = report / f"retrieval_{name}.json"
    bank_size = len(FeatureBank.load(banks["train"]))
    args = [
        "--query",
        str(banks["test"]),
        "--bank",
        str(banks["train"]),
        "--ks",
        "1",
        "5",
        "--knn-k",
        str(min(20, bank_size)),
        "--json",
        str(json_path),
        "--plot",
        str(report / f"neighbours_{name}.png"),
    ]
    status = retrieval_cli.main(args)
    if status != 0:
        raise RuntimeError(f"sce-retrieval {' '.join(args)} failed with exit status {status}")
    result = json.loads(json_path.read_text())
    return {"R@1": result["recall"]["1"], "R@5": result["recall"]["5"], "knn_acc": result["knn"]["accuracy"]}


COLUMNS = {"R@1": "R@1", "R@5": "R@5", "knn_acc": "k-NN acc", "linear_top1": "linear", "finetune_top1": "finetune"}
"""Metric -> column title of the demo's table (the classification columns are multi-view test top-1)."""


def _table(results: dict[str, dict[str, float]]) -> str:
    lines = [f"{'trunk':<14}" + "".join(f"{title:>10}" for title in COLUMNS.values())]
    for name, metrics in results.items():
        lines.append(f"{name:<14}" + "".join(f"{metrics[key]:>10.1%}" for key in COLUMNS))
    return "\n".join(lines)


def _write_results(out: Path, results: dict[str, dict[str, float]], seconds: float) -> None:
    atomic_write_text(out / "results.json", json.dumps(results, indent=2) + "\n")
    curves = Path("..") / "pretrain" / "plots" / "training_curves.png"
    report = [
        "# SCE demo report",
        "",
        "Test videos (queries) retrieve training videos (bank) of the same scene; features are the trunk's pooled",
        "output averaged over the evaluation views, centred and L2-normalised per set (SPEC 5.5).",
        "",
        "Linear evaluation (frozen trunk) and finetuning (whole network) train on the training videos and report the",
        "multi-view top-1 of the test videos (SPEC 5.2, 5.3 scaled down: the `demo` recipes of",
        "`sce_apps/configs/{linear,finetune}/`).",
        "",
        "| trunk | R@1 | R@5 | k-NN accuracy | linear top-1 | finetune top-1 |",
        "|---|---|---|---|---|---|",
        *(f"| {n} | " + " | ".join(f"{m[k]:.1%}" for k in COLUMNS) + " |" for n, m in results.items()),
        "",
        f"Total time: {seconds / 60:.1f} min.",
        "",
        f"![training curves]({curves.as_posix()})",
        "",
        *(f"![{n}: test queries and their nearest training videos](neighbours_{n}.png)" for n in results),
        "",
    ]
    atomic_write_text(out / "report" / "report.md", "\n".join(report))


def main(argv: list[str] | None = None) -> int:
    """Command line of ``hatch run demo``; arguments it does not know go to the pretraining recipe."""
    parser = argparse.ArgumentParser(
        prog="demo",
        description=__doc__.split("\n\n")[0],
        epilog="Extra arguments are pretraining overrides, e.g. --train.max_epochs 4 (see `sce pretrain --help`).",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default: runs/demo)")
    parser.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="a UCF101-layout folder (class folders of videos + classInd/trainlist01/testlist01); "
        "skips building the embedded dataset",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the dataset and of the run")
    args, overrides = parser.parse_known_args(argv)
    try:
        run_demo(args.out, data_root=args.data_root, seed=args.seed, pretrain_overrides=overrides)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"demo: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
