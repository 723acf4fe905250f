"""``sce linear-eval`` and ``sce finetune``: a classifier on a pretrained trunk, tested with multi-view averaging.

Skeleton (litgpt style): :func:`linear_eval` and :func:`finetune` are the command-line surfaces (the same sections,
SPEC 5.2 and 5.3 as defaults); each builds the Fabric and calls :func:`main`, which builds data, model and optimizer
and calls :func:`fit` (the one training loop, with validation and checkpoints) and then :func:`test`.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from lightning_fabric import Fabric
from tqdm import tqdm

from sce_apps.classify.config import (
    FINETUNE_OPTIM,
    FINETUNE_TRAIN,
    LINEAR_OPTIM,
    LINEAR_TRAIN,
    ClassifyConfig,
    ClassifyDataConfig,
    ClassifyModelConfig,
)
from sce_apps.classify.data import (
    Splits,
    batch_inputs,
    build_splits,
    eval_dataset,
    eval_normalization,
    train_augmentation,
)
from sce_apps.classify.evaluate import Accuracy, evaluate
from sce_apps.classify.model import CLASSIFIER_PROGRAMS, Classifier, build_classifier
from sce_apps.engine.atomic import atomic_write_text
from sce_apps.engine.checkpoints import load_checkpoint
from sce_apps.engine.launch import what_ran
from sce_apps.engine.provenance import make_record
from sce_apps.engine.run import Resumed, Run, StepPlan, launch, resume, step_seed
from sce_apps.engine.sections import FabricConfig, OptimConfig, TrainConfig
from sce_apps.engine.threads import AdaptiveThreads
from sce_apps.loaders import decode_device, decoder_name, is_image_data, train_loader
from sce_apps.optim import WarmupCosineSchedule
from sce_apps.shard_checks import check_classify_shards
from sce_video_data import BatchLoader, ResumableBatchSampler

MATH_FIELDS = (
    "protocol",
    "model.trunk",
    "model.small_input",
    "model.trunk_width",
    "model.freeze_trunk",
    "model.dropout",
    "model.num_classes",
    "optim",
    "train.global_batch_size",
    "train.max_epochs",
    "train.max_steps",
)
"""Settings a resumed run must share with its checkpoint: they change the mathematics of the run."""

BEST = "best.ckpt"


def linear_eval(
    data: ClassifyDataConfig = ClassifyDataConfig(augment="linear"),  # noqa: B008 - jsonargparse shows the fields
    model: ClassifyModelConfig = ClassifyModelConfig(freeze_trunk=True, dropout=0.0),  # noqa: B008
    optim: OptimConfig = LINEAR_OPTIM,
    train: TrainConfig = LINEAR_TRAIN,
    fabric: FabricConfig = FabricConfig(sync_batchnorm=False),  # noqa: B008
    out_dir: Path = Path("runs/linear"),
    resume: str | None = None,
    test_checkpoint: str | None = None,
    allow_global_batch_change: bool = False,
) -> Path:
    """Linear evaluation: a linear head on the frozen trunk (eval mode), tested with multi-view averaging.

    Defaults are SPEC 5.2 (video): SGD 2.0 × 512/256 = 4.0, momentum 0.9, no weight decay, 8 warmup epochs, cosine
    over 60 epochs, one random clip per video (short side 256-320, crop 224, flip), 10 clips × 3 crops at 256 for
    testing. The ``resnet50_imagenet`` recipe (``--config resnet50_imagenet``) gives SPEC 5.1 (images).

    Args:
        data: training / validation / test shards and their views.
        model: trunk, pretraining checkpoint, head.
        optim: SGD and its warmup + cosine schedule.
        train: batch, epochs, validation, checkpoints, logs.
        fabric: accelerator, devices, nodes, strategy, precision.
        out_dir: run folder: checkpoints/, logs/, plots/, metrics.csv, config.yaml, results.json.
        resume: "auto" continues the newest readable checkpoint of out_dir (or starts afresh), a path resumes that
            checkpoint.
        test_checkpoint: test this classifier checkpoint (``best.ckpt``, ``step-*.ckpt``) without training.
        allow_global_batch_change: resume even though train.global_batch_size changed (the LR is scaled from the new
            batch, the schedule continues from the same position in the data); recorded in the provenance.

    Returns:
        The path of ``results.json``.
    """
    config = ClassifyConfig("linear", data, model, optim, train, fabric)
    return _launch(config, Path(out_dir), resume, test_checkpoint, allow_global_batch_change)


def finetune(
    data: ClassifyDataConfig = ClassifyDataConfig(augment="finetune"),  # noqa: B008
    model: ClassifyModelConfig = ClassifyModelConfig(freeze_trunk=False, dropout=0.8),  # noqa: B008
    optim: OptimConfig = FINETUNE_OPTIM,
    train: TrainConfig = FINETUNE_TRAIN,
    fabric: FabricConfig = FabricConfig(sync_batchnorm=True),  # noqa: B008
    out_dir: Path = Path("runs/finetune"),
    resume: str | None = None,
    test_checkpoint: str | None = None,
    allow_global_batch_change: bool = False,
) -> Path:
    """Finetuning: the whole network trains (dropout 0.8 before the head), tested with multi-view averaging.

    Defaults are SPEC 5.3: SGD 0.1 × 64/256 = 0.025, momentum 0.9, no weight decay, no warmup, cosine over 200
    epochs, SyncBN when distributed, one random clip per video (short side 256-320, crop 224) with colour jitter,
    grayscale and flip; 10 clips × 3 crops at 256 for testing. Validation uses a held-out part of the training split
    (``data.val=test`` is the authors' test-split selection, reported as such).

    Args:
        data: training / validation / test shards and their views.
        model: trunk, pretraining checkpoint, head.
        optim: SGD and its warmup + cosine schedule.
        train: batch, epochs, validation, checkpoints, logs.
        fabric: accelerator, devices, nodes, strategy, precision, SyncBN.
        out_dir: run folder: checkpoints/, logs/, plots/, metrics.csv, config.yaml, results.json.
        resume: "auto" continues the newest readable checkpoint of out_dir (or starts afresh), a path resumes that
            checkpoint.
        test_checkpoint: test this classifier checkpoint (``best.ckpt``, ``step-*.ckpt``) without training.
        allow_global_batch_change: resume even though train.global_batch_size changed (the LR is scaled from the new
            batch, the schedule continues from the same position in the data); recorded in the provenance.

    Returns:
        The path of ``results.json``.
    """
    config = ClassifyConfig("finetune", data, model, optim, train, fabric)
    return _launch(config, Path(out_dir), resume, test_checkpoint, allow_global_batch_change)


def _launch(
    config: ClassifyConfig, out_dir: Path, resume: str | None, test_checkpoint: str | None, allow_batch: bool = False
) -> Path:
    _check_inputs(config, test_checkpoint)
    runtime, threads = launch(
        config.fabric, out_dir if test_checkpoint is None else None, loader_workers=config.data.num_workers
    )
    return main(runtime, config, out_dir, resume, test_checkpoint, threads, allow_batch)


def _check_inputs(config: ClassifyConfig, test_checkpoint: str | None) -> None:
    """Refuse missing inputs before any work."""
    data = config.data
    folders = {"data.test": data.test} if test_checkpoint else {"data.train": data.train, "data.test": data.test}
    for name, folder in folders.items():
        if folder and not Path(folder).is_dir():
            raise FileNotFoundError(f"{name}: not a shard folder: {folder!r}")
    if test_checkpoint:
        if not data.test:
            raise ValueError("test_checkpoint needs data.test (the shard folder to test on)")
        if not Path(test_checkpoint).is_file():
            raise FileNotFoundError(f"test_checkpoint not found: {test_checkpoint}")
        return
    if not data.train:
        raise ValueError("data.train is required: the shard folder of the training split (sce-shards build)")
    if config.model.checkpoint is not None and not Path(config.model.checkpoint).is_file():
        raise FileNotFoundError(f"model.checkpoint not found: {config.model.checkpoint}")


@dataclass
class Job:
    """What the training loop works on besides the engine's run: the data, the model (raw and set up), the schedule."""

    run: Run
    config: ClassifyConfig
    splits: Splits
    model: Classifier
    wrapped: torch.nn.Module
    optimizer: torch.optim.Optimizer
    loader: BatchLoader
    sampler: ResumableBatchSampler
    plan: StepPlan
    lr: WarmupCosineSchedule

    @property
    def fabric(self) -> Fabric:
        """The run's Fabric."""
        return self.run.fabric

    @property
    def out_dir(self) -> Path:
        """The run folder."""
        return self.run.out_dir


def main(
    fabric: Fabric,
    config: ClassifyConfig,
    out_dir: Path,
    how: str | None,
    test_checkpoint: str | None = None,
    threads: AdaptiveThreads | None = None,
    allow_global_batch_change: bool = False,
) -> Path:
    """Build data, model and optimizer; train with validation (or only test ``test_checkpoint``); test."""
    threads = threads or AdaptiveThreads(1, config.data.num_workers, override=config.fabric.cpu_threads)
    fabric.seed_everything(config.train.seed)
    check_classify_shards(config, test_only=test_checkpoint is not None, rank=fabric.global_rank)
    if test_checkpoint is not None:
        return _test_only(fabric, config, Path(test_checkpoint), out_dir)
    splits = build_splits(config.data, config.train.seed, fabric.device)
    num_classes = _num_classes(config.model, splits.class_names)
    world = fabric.world_size
    model = build_classifier(config.model, num_classes, sync_batchnorm=config.fabric.sync_batchnorm and world > 1).to(
        fabric.device
    )
    if config.fabric.compile:
        model.trunk.compile()
    plan = StepPlan.of(config.train, len(splits.train), world, what="data.train")  # type: ignore[arg-type]
    trainable = [p for p in model.parameters() if p.requires_grad]
    o = config.optim
    if o.name != "sgd":
        raise ValueError(f"optim.name={o.name!r}: the evaluation programs train with SGD (SPEC 5.1-5.3); use sgd")
    optimizer = torch.optim.SGD(trainable, lr=0.0, momentum=o.momentum, weight_decay=o.weight_decay)
    wrapped, optimizer = fabric.setup(model, optimizer)
    loader, sampler = train_loader(
        splits.train,
        config.train.global_batch_size // world,
        world=world,
        rank=fabric.global_rank,
        seed=config.train.seed,
        num_workers=config.data.num_workers,
    )
    schedule = WarmupCosineSchedule.from_epochs(
        o.initial_lr,
        config.train.global_batch_size,
        scale=o.scale_lr,
        warmup_epochs=o.warmup_epochs,
        steps_per_epoch=plan.steps_per_epoch,
        total_steps=plan.total_steps,
    )
    settings = dataclasses.asdict(config)
    resumed = resume(fabric, out_dir, how, (config.protocol,), settings, MATH_FIELDS, allow_global_batch_change)
    allowed: dict[str, Any] = {}
    best = None
    if resumed is not None:
        plan, sampler_state = resumed.continue_plan(plan, config.train.global_batch_size)
        allowed = resumed.batch_change(config.train.global_batch_size)
        best = _restore(resumed, model, optimizer, sampler, sampler_state, config, splits.class_names)
    batch = config.train.global_batch_size
    effective = {"peak_lr": schedule.base_lr, "initial_lr": o.initial_lr, "global_batch_size": batch}
    effective["scaled"] = o.scale_lr
    decoder = {"data": decoder_name(config.data.format, decode_device(config.data.decode_device, fabric.device))}
    run = Run.start(
        fabric,
        config.protocol,
        config,
        out_dir,
        threads,
        resumed,
        decoder=decoder,
        overrides_allowed=allowed,
        effective_lr=effective,
    )
    job = Job(run, config, splits, model, wrapped, optimizer, loader, sampler, plan, schedule)
    scaled = f" = {o.initial_lr} x global batch {batch} / 256" if o.scale_lr else " (not scaled)"
    fabric.print(
        f"{config.protocol}: {plan.end} steps ({plan.steps_per_epoch} per epoch), "
        f"effective peak lr {schedule.base_lr:.4g}{scaled}, "
        f"{world} process(es), {threads.current} CPU thread(s) each"
    )
    best = fit(job, resumed.step if resumed else 0, best)
    return test(job, best)


def _num_classes(model: ClassifyModelConfig, class_names: list[str]) -> int:
    """The head size: the data's class count, which ``model.num_classes`` (when set) must equal."""
    found = len(class_names)
    if found < 2:
        raise ValueError(f"the data holds {found} class(es); a classifier needs at least 2")
    if model.num_classes is not None and model.num_classes != found:
        raise ValueError(
            f"model.num_classes={model.num_classes} but the data has {found} classes "
            f"({', '.join(class_names[:5])}{', ...' if found > 5 else ''}); set it to {found} or null"
        )
    return found


def fit(job: Job, start_step: int, best: dict[str, Any] | None) -> dict[str, Any] | None:
    """The training loop: one SGD step per global batch; validation and checkpoints when due."""
    fabric, config, plan = job.fabric, job.config, job.plan
    augment = train_augmentation(config.data)
    generator = torch.Generator(device=fabric.device)
    step, epoch = start_step, plan.epoch_of(start_step)
    progress = tqdm(
        total=plan.end, initial=step, disable=fabric.global_rank != 0, desc=config.protocol, unit="step"
    )
    job.wrapped.train()
    try:
        tick = time.perf_counter()
        while step < plan.end:
            job.sampler.set_epoch(epoch)
            for batch in job.loader:
                generator.manual_seed(step_seed(config.train.seed, step, fabric.global_rank))
                inputs = augment(batch_inputs(batch).to(fabric.device, non_blocking=True), generator)
                labels = batch["label"].to(fabric.device)
                lr = job.lr(plan.index(step))
                for group in job.optimizer.param_groups:
                    group["lr"] = lr
                with fabric.autocast():
                    logits = job.wrapped(inputs)
                loss = F.cross_entropy(logits.float(), labels)
                fabric.backward(loss)
                job.optimizer.step()
                job.optimizer.zero_grad(set_to_none=True)
                step += 1
                progress.update(1)
                if step % config.train.log_every_steps == 0 or step == plan.end:
                    elapsed, tick = time.perf_counter() - tick, time.perf_counter()
                    metrics = _train_metrics(fabric, loss, logits, labels, lr, epoch, elapsed, config)
                    metrics["cpu_threads"] = job.run.threads.update()
                    job.run.log(metrics, step)
                    progress.set_postfix(loss=f"{metrics['loss']:.4f}", lr=f"{lr:.3g}")
                if job.splits.val is not None and plan.validation_due(step):
                    best = _validate(job, step, best, progress)
                    job.wrapped.train()
                if plan.checkpoint_due(step):
                    job.run.save(step, _state(job, step, best))
                if step >= plan.end:
                    break
            epoch += 1
    finally:
        progress.close()
    return best


def _train_metrics(
    fabric: Fabric,
    loss: torch.Tensor,
    logits: torch.Tensor,
    labels: torch.Tensor,
    lr: float,
    epoch: int,
    elapsed: float,
    config: ClassifyConfig,
) -> dict[str, float]:
    values = torch.stack([loss.detach(), (logits.argmax(1) == labels).float().mean()])
    if fabric.world_size > 1:
        values = fabric.all_reduce(values, reduce_op="mean")  # type: ignore[assignment]
    samples = config.train.global_batch_size * config.train.log_every_steps
    if not torch.isfinite(values[0]):
        raise FloatingPointError(f"non-finite training loss ({float(values[0])}) at epoch {epoch}; stopping")
    return {
        "loss": float(values[0]),
        "train_top1": float(values[1]),
        "lr": lr,
        "epoch": epoch,
        "samples_per_s": samples / max(elapsed, 1e-9),
    }


def _validate(job: Job, step: int, best: dict[str, Any] | None, progress: tqdm) -> dict[str, Any] | None:
    """Validate, log, and keep the best-on-validation weights in ``checkpoints/best.ckpt``."""
    epochs_done = -(-job.plan.index(step) // job.plan.steps_per_epoch)
    result = _evaluate(job.fabric, job.model, job.splits.val, job.config.data, "val")
    job.run.log({f"val_{k}": float(v) for k, v in result.as_dict().items()}, step)
    progress.write(f"epoch {epochs_done}: val top-1 {100 * result.top1:.2f}%, top-5 {100 * result.top5:.2f}%")
    if best is None or result.top1 > best["val_top1"]:
        best = {"val_top1": result.top1, "val_top5": result.top5, "step": step, "epoch": epochs_done}
        job.run.save(step, _state(job, step, best), name=BEST)
    return best


def _evaluate(fabric: Fabric, model: Classifier, dataset: Any, data: ClassifyDataConfig, desc: str) -> Accuracy:
    """Multi-view accuracy of ``model`` on ``dataset`` with the test views and loader settings of ``data``."""
    return evaluate(
        fabric,
        model,
        dataset,
        eval_normalization(data),
        batch_size=data.eval_batch_size,
        num_workers=data.num_workers,
        desc=desc,
    )


def _state(job: Job, step: int, best: dict[str, Any] | None) -> dict[str, Any]:
    """What a checkpoint holds besides the engine's entries (settings, what ran, checksum)."""
    return {
        "model": job.model.state_dict(),
        "optimizer": job.optimizer.state_dict(),
        "sampler": job.sampler.state_dict(batches_done=job.plan.position(step)),
        "step_offset": job.plan.offset,
        "rng": {"torch": torch.get_rng_state()},
        "best": best,
        "class_names": job.splits.class_names,
    }


def _load_classifier(
    path: Path,
    model: Classifier,
    config: ClassifyConfig,
    class_names: list[str],
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Load a classifier checkpoint into ``model`` after checking it fits (trunk, head, classes).

    ``payload`` is the checkpoint already read from ``path``, if it was (it is read otherwise).

    Raises:
        ValueError: the checkpoint is not a classifier checkpoint, or it is for another trunk or class list.
    """
    if payload is None:
        payload = load_checkpoint(path, CLASSIFIER_PROGRAMS)
    saved = payload["settings"]["model"]
    if saved["trunk"] != config.model.trunk:
        raise ValueError(f"{path}: a checkpoint of trunk {saved['trunk']!r}, but model.trunk={config.model.trunk!r}")
    saved_classes = list(payload["class_names"])
    if len(saved_classes) != len(class_names):
        raise ValueError(
            f"{path}: its head predicts {len(saved_classes)} classes, but the data has {len(class_names)}; "
            "a classifier can only be resumed or tested on data with its own class list"
        )
    if saved_classes != class_names:
        differing = next(i for i, (a, b) in enumerate(zip(saved_classes, class_names, strict=True)) if a != b)
        raise ValueError(
            f"{path}: class {differing} is {saved_classes[differing]!r} in the checkpoint but "
            f"{class_names[differing]!r} in the data"
        )
    model.load_state_dict(payload["model"])
    return payload


def _restore(
    resumed: Resumed,
    model: Classifier,
    optimizer: torch.optim.Optimizer,
    sampler: ResumableBatchSampler,
    sampler_state: dict[str, Any],
    config: ClassifyConfig,
    class_names: list[str],
) -> dict[str, Any] | None:
    """Load the resumed checkpoint's weights, optimizer, sampler and RNG; return its best-on-validation record."""
    payload = _load_classifier(resumed.path, model, config, class_names, resumed.payload)
    optimizer.load_state_dict(payload["optimizer"])
    sampler.load_state_dict(sampler_state)
    torch.set_rng_state(payload["rng"]["torch"])
    best: dict[str, Any] | None = payload["best"]
    return best


def test(job: Job, best: dict[str, Any] | None) -> Path:
    """Test the last weights and the best-on-validation checkpoint on the test split; write ``results.json``."""
    fabric, config, splits = job.fabric, job.config, job.splits
    results: dict[str, Any] = {
        "protocol": config.protocol,
        "trunk": config.model.trunk,
        "pretrained": config.model.checkpoint,
        "classes": len(splits.class_names),
        "validation": splits.val_source,
        "selected_on_test": config.data.val == "test",
        "views": _views(config.data),
    }
    if splits.test is not None:
        results["last"] = {
            "step": job.plan.end,
            **_evaluate(fabric, job.model, splits.test, config.data, "test (last)").as_dict(),
        }
        best_path = job.out_dir / "checkpoints" / BEST
        if best is not None and best_path.is_file():
            _load_classifier(best_path, job.model, config, splits.class_names)
            results["best"] = {
                **best,
                **_evaluate(fabric, job.model, splits.test, config.data, "test (best)").as_dict(),
            }
    elif best is not None:
        results["best"] = best
    results["provenance"] = job.run.provenance
    target = _write_results(fabric, job.out_dir, results)
    fabric.print(_summary(results))
    job.run.finish(("loss", "lr", "train_top1", "val_top1"), outputs=[target])
    return target


def _test_only(fabric: Fabric, config: ClassifyConfig, checkpoint: Path, out_dir: Path) -> Path:
    """Test a classifier checkpoint on ``data.test`` with this run's views; its model settings come from the file."""
    payload = load_checkpoint(checkpoint, CLASSIFIER_PROGRAMS)
    saved_model = ClassifyModelConfig(**{**payload["settings"]["model"], "checkpoint": None, "init_from": None})
    config = dataclasses.replace(config, protocol=payload["program"], model=saved_model)
    dataset = eval_dataset(config.data, config.data.test, decode_device(config.data.decode_device, fabric.device))
    class_names = list(dataset.class_names)
    model = build_classifier(saved_model, _num_classes(saved_model, class_names)).to(fabric.device)
    _load_classifier(checkpoint, model, config, class_names, payload)
    result = _evaluate(fabric, model, dataset, config.data, "test")
    results = {
        "protocol": config.protocol,
        "checkpoint": str(checkpoint),
        "step": payload["step"],
        "trunk": saved_model.trunk,
        "classes": len(class_names),
        "views": _views(config.data),
        "test": result.as_dict(),
    }
    settings = {**dataclasses.asdict(config), "test_checkpoint": str(checkpoint)}
    decoder = {"data": decoder_name(config.data.format, decode_device(config.data.decode_device, fabric.device))}
    run_record = what_ran(fabric, torch.get_num_threads())
    results["provenance"] = make_record(f"{config.protocol} (test only)", settings, run_record, decoder)
    target = _write_results(fabric, out_dir, results)
    fabric.print(_summary(results))
    return target


def _views(data: ClassifyDataConfig) -> str:
    if is_image_data(data.format):
        return f"1 centre crop {data.eval_crop_size} at short side {data.eval_short_side}"
    return (
        f"{data.eval_clips} clips x {data.eval_crops} crops of {data.eval_crop_size} at short side "
        f"{data.eval_short_side}, {data.frames} frames of {data.clip_duration} s, softmax averaged"
    )


def _write_results(fabric: Fabric, out_dir: Path, results: dict[str, Any]) -> Path:
    target = out_dir / "results.json"
    if fabric.global_rank == 0:
        atomic_write_text(target, json.dumps(results, indent=2) + "\n")
    fabric.barrier()
    return target


def _summary(results: dict[str, Any]) -> str:
    lines = [f"{results['protocol']}: {results.get('validation', results.get('checkpoint'))}"]
    for name in ("last", "best", "test"):
        if name in results and "top1" in results[name]:
            r = results[name]
            top1, top5 = 100 * r["top1"], 100 * r["top5"]
            lines.append(f"  {name:5s} top-1 {top1:6.2f}%  top-5 {top5:6.2f}%  ({r['count']} videos)")
    return "\n".join(lines)
