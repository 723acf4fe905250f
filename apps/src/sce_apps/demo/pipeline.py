"""``hatch run demo``: the project's main job end to end on an embedded real-video dataset.

1. build the demo dataset (:mod:`sce_apps.demo.make_dataset`) or use ``--data-root`` (any UCF101-layout folder),
   and shard both splits (``sce_video_data.build_shards``);
2. pretrain with the ``demo`` recipe (``sce_apps/configs/pretrain/demo.yaml``) on the CPU, the online k-NN monitor
   classifying the test videos by their nearest training videos as the trunk learns;
3. extract multi-view features of both splits from the final checkpoint and from a randomly initialised trunk:
   R@1, R@5 and k-NN accuracy of test queries against the train bank (``sce_retrieval``);
4. linear evaluation and finetuning of both trunks (``sce_apps/configs/{linear,finetune}/demo.yaml``): multi-view
   test top-1; then a table, ``results.json`` and ``report/report.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from lightning_fabric import Fabric

from sce_apps.classify.config import Protocol
from sce_apps.classify.program import BEST, finetune, linear_eval
from sce_apps.classify.recipes import RECIPE_DIRS, load_classify_recipe
from sce_apps.demo.make_dataset import CONTENTS, make_demo_dataset
from sce_apps.engine.atomic import atomic_write_text
from sce_apps.engine.metrics import read_metrics
from sce_apps.extract import extract
from sce_apps.pretrain.learner import SCELearner
from sce_apps.pretrain.monitor import KNNMonitor
from sce_apps.pretrain.program import setup as pretrain
from sce_apps.pretrain.recipes import RECIPES_DIR, SECTIONS, load_recipe
from sce_apps.recipes import parse_recipe, recipes_dir
from sce_retrieval import FeatureBank, knn_accuracy, recall_at_k, search
from sce_retrieval.plot import plot_neighbours
from sce_video_data import EncodeParams, build_shards, ucf101_index

TRUNKS = ("random_init", "sce")
SPLITS = ("train", "test")
SPLIT_FILES = ("classInd.txt", "trainlist01.txt", "testlist01.txt")
KNN_K, KNN_T = 20, 0.07
COLUMNS = {"R@1": "R@1", "R@5": "R@5", "knn_acc": "k-NN acc", "linear_top1": "linear", "finetune_top1": "finetune"}
"""Metric -> column title of the demo's table (the classification columns are multi-view test top-1)."""


def run_demo(
    out: Path,
    *,
    data_root: Path | None = None,
    seed: int = 0,
    content: str = "textures",
    pretrain_overrides: list[str] | None = None,
    extract_overrides: list[str] | None = None,
    linear_overrides: list[str] | None = None,
    finetune_overrides: list[str] | None = None,
    short_side: int = 96,
) -> dict[str, dict[str, float]]:
    """Run the whole demo into ``out`` and return ``{"random_init": {...}, "sce": {...}}`` metrics (fractions).

    ``seed`` seeds the dataset and every run; ``content`` picks the dataset's photographs
    (:data:`sce_apps.demo.make_dataset.CONTENTS`). Each ``*_overrides`` list holds command-line style overrides of that
    step's recipe (``sce_apps/configs/*/demo.yaml``).
    """
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if data_root is None:
        data = make_demo_dataset(out / "data", seed=seed, content=content, progress=True)
        videos, splits = data.videos_dir, data.splits_dir
    else:
        videos, splits = locate_ucf101(data_root)
    shards = {split: _shards(videos, splits, split, out / "shards" / split, short_side) for split in SPLITS}
    checkpoint, pretrain_s, knn_at_init = _pretrain(shards, out / "pretrain", seed, pretrain_overrides)
    sources = {"random_init": None, "sce": str(checkpoint)}
    results = {}
    for name, source in sources.items():
        banks = {
            split: _features(source, shards[split], out / "features" / f"{name}_{split}.npz", seed, extract_overrides)
            for split in SPLITS
        }
        results[name] = _retrieval(banks, out / "report" / f"neighbours_{name}.png")
    evaluations: list[tuple[Protocol, list[str] | None]] = [
        ("linear", linear_overrides),
        ("finetune", finetune_overrides),
    ]
    for protocol, overrides in evaluations:
        for name, source in sources.items():
            # finetuning starts from the linear run's trunk and head (LP-FT, the finetune demo recipe says why)
            weights = {"checkpoint": source}
            if protocol == "finetune":
                weights = {"init_from": str(out / "linear" / name / "checkpoints" / BEST)}
            results[name][f"{protocol}_top1"] = _classify(
                protocol, weights, shards, out / protocol / name, seed, overrides
            )
    monitor = _monitor(out / "pretrain", pretrain_s, knn_at_init)
    provenance = _provenance(out, shards, checkpoint, seed, content if data_root is None else str(data_root))
    _write_results(out, results, monitor, time.perf_counter() - started, provenance)
    print(_table(results))
    print(_monitor_line(monitor))
    return results


def locate_ucf101(root: Path) -> tuple[Path, Path]:
    """``(videos, splits)`` of a UCF101-layout folder.

    The split files and the class folders may sit in ``root`` or one level down (the official ``UCF-101/`` and
    ``ucfTrainTestlist/``, or ``videos/`` and ``splits/``); the class names come from ``ucf101_index``.

    Raises:
        FileNotFoundError: naming what is missing and where it was looked for.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"--data-root {root} is not a folder")
    candidates = [root, *sorted(p for p in root.iterdir() if p.is_dir())]
    splits = next((c for c in candidates if all((c / name).is_file() for name in SPLIT_FILES)), None)
    if splits is None:
        raise FileNotFoundError(f"no UCF101 split files ({', '.join(SPLIT_FILES)}) in {root} or its sub-folders")
    _, classes = ucf101_index(splits, "train")
    videos = next((c for c in candidates if all((c / name).is_dir() for name in classes)), None)
    if videos is None:
        raise FileNotFoundError(
            f"no folder holding the {len(classes)} class folders of {splits / 'classInd.txt'} "
            f"(e.g. {classes[0]}/) in {root} or its sub-folders"
        )
    return videos, splits


def _shards(videos: Path, splits: Path, split: str, target: Path, short_side: int) -> Path:
    """Shards of one UCF101 split 1 (``build_shards`` resumes, or skips a complete build)."""
    items, classes = ucf101_index(splits, split, 1, videos)
    params = EncodeParams(short_side)
    report = build_shards(items, classes, videos, target, params=params, workers=2, layout="ucf101", split=f"{split} 1")
    if report.num_items == 0:
        raise RuntimeError(f"no {split} video of {videos} could be read (see {target / 'failures.jsonl'})")
    print(f"{split} shards: {report.num_items} videos, {report.total_bytes / 2**20:.1f} MiB -> {target}")
    return target


def _pretrain(
    shards: dict[str, Path], out: Path, seed: int, overrides: list[str] | None
) -> tuple[Path, float, float | None]:
    """SCE pretraining (demo recipe) on the train shards, the k-NN monitor voting with them on the test shards.

    Returns the final checkpoint, the run's seconds, and the monitor's k-NN top-1 of the trunk as the run initialises
    it (the curve's step 0, which the run itself does not measure; None when the monitor is off).
    """
    config, _ = load_recipe(RECIPES_DIR / "demo.yaml", overrides)
    train, test = str(shards["train"]), str(shards["test"])
    config.data = dataclasses.replace(config.data, path=train)
    config.train = dataclasses.replace(config.train, seed=seed)
    config.monitor = dataclasses.replace(config.monitor, bank=train, query=test)
    start = time.perf_counter()
    checkpoint = pretrain(**{name: getattr(config, name) for name in SECTIONS}, out_dir=out, resume="auto")
    seconds = time.perf_counter() - start
    if not config.monitor.enabled:
        return checkpoint, seconds, None
    fabric = Fabric(accelerator=config.fabric.accelerator, devices=1)
    fabric.seed_everything(seed, verbose=False)  # as the run does before building its networks
    trunk = SCELearner(config.model, config.sce).online.trunk.to(fabric.device)
    return checkpoint, seconds, KNNMonitor.open(config.monitor, config.data)(fabric, trunk)["knn_top1"]


def _features(source: str | None, shards: Path, bank: Path, seed: int, overrides: list[str] | None) -> FeatureBank:
    """The bank of one split from the trunk of ``source`` (the checkpoint's online trunk, SPEC 5.1; None: random)."""
    namespace = parse_recipe(extract, "sce extract-features", recipes_dir("extract") / "demo.yaml", overrides)
    config = dataclasses.replace(namespace["features"], shards=str(shards), out=str(bank), seed=seed, checkpoint=source)
    return FeatureBank.load(extract(config, namespace["fabric"]))


def _retrieval(banks: dict[str, FeatureBank], picture: Path) -> dict[str, float]:
    """R@1, R@5 and weighted k-NN accuracy of the test videos against the train videos (SPEC 5.5), and a picture."""
    query, bank = banks["test"], banks["train"]
    pair = (query.features, query.labels, bank.features, bank.labels)
    recall = recall_at_k(*pair, ks=(1, 5))
    knn = knn_accuracy(*pair, k=min(KNN_K, len(bank)), temperature=KNN_T, center=True)
    centred = {name: b.features - b.features.mean(axis=0) for name, b in banks.items()}  # as R@k compares them
    scores, indices = search(centred["test"], centred["train"], k=5, metric="cosine")
    picture.parent.mkdir(parents=True, exist_ok=True)
    plot_neighbours(query, bank, scores, indices, picture)
    return {"R@1": recall[1], "R@5": recall[5], "knn_acc": knn}


def _classify(
    protocol: Protocol,
    weights: dict[str, Any],
    shards: dict[str, Path],
    out: Path,
    seed: int,
    overrides: list[str] | None,
) -> float:
    """Multi-view test top-1 of linear evaluation / finetuning (demo recipe) from ``weights`` (model settings)."""
    config, rest = load_classify_recipe(protocol, RECIPE_DIRS[protocol] / "demo.yaml", overrides)
    program = linear_eval if protocol == "linear" else finetune
    results = program(
        data=dataclasses.replace(config.data, train=str(shards["train"]), test=str(shards["test"])),
        model=dataclasses.replace(config.model, **weights),
        optim=config.optim,
        train=dataclasses.replace(config.train, seed=seed),
        fabric=config.fabric,
        out_dir=out,
        resume="auto",
        test_checkpoint=rest["test_checkpoint"],
    )
    return float(json.loads(results.read_text())["last"]["top1"])


def _monitor(run: Path, pretrain_s: float, knn_at_init: float | None) -> dict[str, Any]:
    """The k-NN monitor's accuracy per step (step 0: ``knn_at_init``) and its cost in the run's ``metrics.csv``."""
    metrics = read_metrics(run)
    curve = ([(0, knn_at_init)] if knn_at_init is not None else []) + metrics.get("knn_top1", [])
    cost = sum(v for _, v in metrics.get("monitor_s", []))
    return {"knn_top1": curve, "monitor_s": cost, "pretrain_s": pretrain_s}


def _plot_monitor(monitor: dict[str, Any], results: dict[str, dict[str, float]], path: Path) -> None:
    """``report/knn_monitor.png``: the monitor's k-NN top-1 over the pretraining steps, step 0 included."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps, values = zip(*monitor["knn_top1"], strict=True)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(steps, [100 * v for v in values], marker="o", label="k-NN monitor (1 centre clip)")
    for name, style in (("random_init", ":"), ("sce", "--")):
        ax.axhline(100 * results[name]["knn_acc"], color="gray", linestyle=style, label=f"{name}, 6 views")
    ax.set(xlabel="pretraining step", ylabel="test k-NN top-1 (%)", title="the representation during pretraining")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _monitor_line(monitor: dict[str, Any]) -> str:
    if not monitor["knn_top1"]:
        return "k-NN monitor: off"
    curve = ", ".join(f"step {step} {value:.1%}" for step, value in monitor["knn_top1"])
    share = monitor["monitor_s"] / max(monitor["pretrain_s"], 1e-9)
    cost = f"{monitor['monitor_s']:.1f} s in the run, {share:.1%} of the pretraining time"
    return f"k-NN monitor (test videos voted by their 20 nearest training videos): {curve} ({cost})"


def _table(results: dict[str, dict[str, float]]) -> str:
    lines = [f"{'trunk':<14}" + "".join(f"{title:>10}" for title in COLUMNS.values())]
    for name, metrics in results.items():
        lines.append(f"{name:<14}" + "".join(f"{metrics[key]:>10.1%}" for key in COLUMNS))
    return "\n".join(lines)


def _provenance(out: Path, shards: dict[str, Path], checkpoint: Path, seed: int, data: str) -> dict[str, Any]:
    """The demo's provenance: both shard sets, the pretraining checkpoint, and the record hash of every step."""
    from sce_apps.engine.provenance import make_record, read_provenance
    from sce_apps.loaders import decoder_name

    files = {"pretrain": checkpoint}
    files |= {f"features/{n}_{s}": out / "features" / f"{n}_{s}.npz" for n in TRUNKS for s in SPLITS}
    files |= {f"{p}/{n}": out / p / n / "results.json" for p in ("linear", "finetune") for n in TRUNKS}
    steps = {name: read_provenance(path)["hash"] for name, path in files.items()}
    settings: dict[str, Any] = {"shards": {s: str(p) for s, p in shards.items()}}
    settings["pretrain"] = {"checkpoint": str(checkpoint)}
    run = {"world_size": 1, "num_nodes": 1, "strategy": "auto", "precision": "32-true"}
    decoder = {"shards": decoder_name("video_shards", "cpu")}
    extra = {"steps": steps, "dataset": {"seed": seed, "source": data}}
    return make_record("demo", settings, run, decoder, extra=extra)


def _write_results(
    out: Path,
    results: dict[str, dict[str, float]],
    monitor: dict[str, Any],
    seconds: float,
    provenance: dict[str, Any] | None = None,
) -> None:
    saved: dict[str, Any] = {**results, "provenance": provenance} if provenance is not None else dict(results)
    atomic_write_text(out / "results.json", json.dumps(saved, indent=2) + "\n")
    if monitor["knn_top1"]:
        _plot_monitor(monitor, results, out / "report" / "knn_monitor.png")
    report = [
        "# SCE demo report",
        "",
        "Test videos (queries) retrieve training videos (bank) of the same class; features are the trunk's pooled",
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
        _monitor_line(monitor) + "; one centre clip per video, the online trunk; step 0 is the trunk as the run "
        "initialises it.",
        "",
        f"Total time: {seconds / 60:.1f} min, pretraining {monitor['pretrain_s'] / 60:.1f} min.",
        "",
        *(["![k-NN monitor during pretraining](knn_monitor.png)", ""] if monitor["knn_top1"] else []),
        "![training curves](../pretrain/plots/training_curves.png)",
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
    parser.add_argument("--seed", type=int, default=0, help="seed of the dataset and of every run (default: 0)")
    parser.add_argument(
        "--content", choices=sorted(CONTENTS), default="textures", help="the dataset's photographs (default: textures)"
    )
    args, overrides = parser.parse_known_args(argv)
    try:
        run_demo(args.out, data_root=args.data_root, seed=args.seed, content=args.content, pretrain_overrides=overrides)
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError) as error:
        print(f"demo: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
