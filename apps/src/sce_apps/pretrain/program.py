"""``sce pretrain``: SCE pretraining on Lightning Fabric (SPEC 2), from one CPU to a SLURM cluster.

Skeleton (litgpt style): :func:`setup` is the command-line surface; it launches the processes through the engine
(:mod:`sce_apps.engine`) and calls :func:`main`, which builds learner, optimizer and data, resumes, and calls
:func:`fit`, the one training loop. Launch, resume, checkpoints, metrics and the end of the run are the engine's.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path
from typing import Any

import torch
from lightning_fabric import Fabric
from tqdm import tqdm

from sce_apps.engine.run import Resumed, Run, StepPlan, launch, resume, step_seed
from sce_apps.engine.threads import AdaptiveThreads
from sce_apps.loaders import decode_device, decoder_name, is_image_data, train_loader
from sce_apps.optim import LARS, WarmupCosineSchedule
from sce_apps.pretrain.config import (
    DataConfig,
    FabricConfig,
    ModelConfig,
    MonitorConfig,
    OptimConfig,
    PretrainConfig,
    SCEConfig,
    TrainConfig,
)
from sce_apps.pretrain.data import build_dataset, device_views
from sce_apps.pretrain.learner import SCELearner
from sce_apps.pretrain.monitor import KNNMonitor
from sce_apps.shard_checks import check_pretrain_shards
from sce_backbones import cosine_momentum
from sce_losses import NonFiniteInputError
from sce_video_data import BatchLoader, ResumableBatchSampler

MATH_FIELDS = ("model", "sce", "optim", "train.global_batch_size", "train.max_epochs", "train.max_steps")
"""Settings a resumed run must share with its checkpoint: they change the mathematics of the run."""


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run stops and keeps its last good checkpoint."""


def setup(
    data: DataConfig = DataConfig(),  # noqa: B008 - immutable in practice; jsonargparse shows the fields
    model: ModelConfig = ModelConfig(),  # noqa: B008
    sce: SCEConfig = SCEConfig(),  # noqa: B008
    optim: OptimConfig = OptimConfig(),  # noqa: B008
    train: TrainConfig = TrainConfig(),  # noqa: B008
    fabric: FabricConfig = FabricConfig(),  # noqa: B008
    monitor: MonitorConfig = MonitorConfig(),  # noqa: B008
    out_dir: Path = Path("runs/pretrain"),
    resume: str | None = None,
    allow_global_batch_change: bool = False,
) -> Path:
    """Pretrain a trunk with Similarity Contrastive Estimation (SCE).

    Args:
        data: training data and loader-stage crops.
        model: trunk and heads.
        sce: loss, queue and momentum encoder.
        optim: optimizer and learning-rate schedule.
        train: run length, batch size, checkpoints, logs.
        fabric: accelerator, devices, nodes, strategy, precision, CPU threads.
        monitor: online k-NN accuracy on labelled shards during the run (off by default).
        out_dir: run folder: checkpoints/, logs/, plots/, metrics.csv, config.yaml.
        resume: "auto" continues the newest readable checkpoint of out_dir (or starts afresh), a path resumes that
            checkpoint. Any number of processes may resume it; the global batch must stay the same.
        allow_global_batch_change: resume even though train.global_batch_size changed (the LR is scaled from the new
            batch, the schedules continue from the same position in the data); recorded in the provenance.

    Returns:
        The path of the final checkpoint.
    """
    config = PretrainConfig(data=data, model=model, sce=sce, optim=optim, train=train, fabric=fabric, monitor=monitor)
    config.data.check_source()
    _check_queue(config)
    out_dir = Path(out_dir)
    runtime, threads = launch(config.fabric, out_dir, loader_workers=config.data.num_workers)
    return main(runtime, config, out_dir, resume, threads, allow_global_batch_change)


def main(
    fabric: Fabric,
    config: PretrainConfig,
    out_dir: Path,
    how: str | None,
    threads: AdaptiveThreads | None = None,
    allow_global_batch_change: bool = False,
) -> Path:
    """Build learner, optimizer and data, restore a checkpoint if asked, and train."""
    threads = threads or AdaptiveThreads(1, config.data.num_workers, override=config.fabric.cpu_threads)
    fabric.seed_everything(config.train.seed)
    world = fabric.world_size
    image = is_image_data(config.data.format, config.model.trunk)
    check_pretrain_shards(config.data, rank=fabric.global_rank)
    dataset = build_dataset(config.data, image=image, device=fabric.device)
    plan = StepPlan.of(config.train, len(dataset), world)  # type: ignore[arg-type]
    monitor = KNNMonitor.open(config.monitor, config.data) if config.monitor.enabled else None

    learner = SCELearner(config.model, config.sce, sync_batchnorm=config.fabric.sync_batchnorm and world > 1)
    if config.fabric.compile:
        for network in (learner.online, learner.momentum.module):
            network.trunk.compile()  # type: ignore[union-attr]
    learner.to(fabric.device)
    optimizer = _optimizer(config.optim, learner)
    online, optimizer = fabric.setup(learner.online, optimizer)
    loader, sampler = train_loader(
        dataset,
        config.train.global_batch_size // world,
        world=world,
        rank=fabric.global_rank,
        seed=config.train.seed,
        num_workers=config.data.num_workers,
    )
    settings = dataclasses.asdict(config)
    resumed = resume(fabric, out_dir, how, ("pretrain",), settings, MATH_FIELDS, allow_global_batch_change)
    allowed: dict[str, Any] = {}
    if resumed is not None:
        plan, sampler_state = resumed.continue_plan(plan, config.train.global_batch_size)
        allowed = resumed.batch_change(config.train.global_batch_size)
        _restore(resumed, learner, optimizer, sampler, sampler_state, realign_queue=bool(allowed))
    schedule = Schedule(config, plan)
    decoder = {"data": decoder_name(config.data.format, decode_device(config.data.decode_device, fabric.device))}
    run = Run.start(
        fabric,
        "pretrain",
        config,
        out_dir,
        threads,
        resumed,
        decoder=decoder,
        overrides_allowed=allowed,
        effective_lr=schedule.effective_lr(),
    )
    return fit(run, config, learner, online, optimizer, loader, sampler, schedule, resumed, monitor)


@dataclasses.dataclass
class Schedule:
    """Per-step learning rate and EMA momentum: pure functions of the step (SPEC 2.1, 2.7)."""

    config: PretrainConfig
    plan: StepPlan

    @functools.cached_property
    def lr(self) -> WarmupCosineSchedule:
        """LR of each 0-based optimizer step: peak ``initial_lr × global_batch / 256`` (SPEC 2.7), warmup, cosine."""
        o = self.config.optim
        return WarmupCosineSchedule.from_epochs(
            o.initial_lr,
            self.config.train.global_batch_size,
            scale=o.scale_lr,
            warmup_epochs=o.warmup_epochs,
            steps_per_epoch=self.plan.steps_per_epoch,
            total_steps=self.plan.total_steps,
        )

    def effective_lr(self) -> dict[str, Any]:
        """The peak LR and what it was computed from (printed, and recorded in the provenance)."""
        o = self.config.optim
        return {
            "peak_lr": self.lr.base_lr,
            "initial_lr": o.initial_lr,
            "global_batch_size": self.config.train.global_batch_size,
            "scaled": o.scale_lr,
        }

    def momentum(self, step: int) -> float:
        """EMA momentum following optimizer step ``step`` (SPEC 2.1)."""
        s = self.config.sce
        if s.momentum_schedule == "constant":
            return s.initial_momentum
        return cosine_momentum(step, self.plan.total_steps, s.initial_momentum)


def fit(
    run: Run,
    config: PretrainConfig,
    learner: SCELearner,
    online: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: BatchLoader,
    sampler: ResumableBatchSampler,
    schedule: Schedule,
    resumed: Resumed | None,
    monitor: KNNMonitor | None = None,
) -> Path:
    """The training loop: one optimizer step per global batch, symmetric SCE loss, EMA, enqueue, checkpoints."""
    fabric, plan = run.fabric, schedule.plan
    views = device_views(config.data)
    generator = torch.Generator(device=fabric.device)
    num_global = 2
    batch_clips = config.train.global_batch_size * len(views.augmentations)
    start_step = resumed.step if resumed else 0
    step, epoch = start_step, plan.epoch_of(start_step)
    scaled = f" = {config.optim.initial_lr} x global batch {config.train.global_batch_size} / 256"
    fabric.print(
        f"pretrain: {plan.end} steps ({plan.steps_per_epoch} per epoch), effective peak lr "
        f"{schedule.lr.base_lr:.4g}{scaled if config.optim.scale_lr else ' (not scaled)'}, "
        f"{fabric.world_size} process(es), {run.threads.current} CPU thread(s) each"
    )
    progress = tqdm(
        total=plan.end,
        initial=start_step,
        disable=fabric.global_rank != 0,
        desc="pretrain",
        unit="step",
        dynamic_ncols=True,
    )
    try:
        data_time = compute_time = 0.0
        while step < plan.end:
            sampler.set_epoch(epoch)
            tick = time.perf_counter()
            for batch in loader:
                loaded = time.perf_counter()
                generator.manual_seed(step_seed(config.train.seed, step, fabric.global_rank))
                crops = views(batch["video"] if "video" in batch else batch["image"], fabric.device, generator)
                lr, momentum = schedule.lr(plan.index(step)), schedule.momentum(plan.index(step))
                for group in optimizer.param_groups:
                    group["lr"] = lr
                try:
                    with fabric.autocast():
                        loss, keys = learner.loss(online, crops, num_global)
                except NonFiniteInputError:  # the network's outputs are already NaN/inf
                    loss, keys = torch.tensor(float("nan"), device=fabric.device), []
                _check_finite(fabric, loss, step, run.last_checkpoint)
                fabric.backward(loss)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                learner.after_step(keys, momentum)
                step += 1
                done = time.perf_counter()
                data_time += loaded - tick
                compute_time += done - loaded
                if step % config.train.log_every_steps == 0 or step == plan.end:
                    total = data_time + compute_time
                    global_loss = loss.detach()
                    if fabric.world_size > 1:
                        global_loss = fabric.all_reduce(global_loss, reduce_op="mean")  # type: ignore[assignment]
                    metrics = {
                        "loss": float(global_loss),
                        "lr": lr,
                        "momentum": momentum,
                        "epoch": epoch,
                        "clips_per_s": batch_clips * config.train.log_every_steps / max(total, 1e-9),
                        "data_wait_fraction": data_time / max(total, 1e-9),
                        "queue_ptr": int(learner.criterion.queue_ptr),
                        "cpu_threads": run.threads.update(),
                    }
                    run.log(metrics, step)
                    progress.set_postfix(
                        loss=f"{metrics['loss']:.4f}", lr=f"{lr:.3g}", clips_s=f"{metrics['clips_per_s']:.1f}"
                    )
                    data_time = compute_time = 0.0
                progress.update(1)
                if monitor is not None and plan.validation_due(step):
                    result = monitor(fabric, learner.online.trunk)
                    run.log(result, step)
                    progress.write(f"step {step}: k-NN top-1 {100 * result['knn_top1']:.2f}%")
                if plan.checkpoint_due(step):
                    run.save(step, _state(learner, optimizer, sampler, schedule, step))
                if step >= plan.end:
                    break
                tick = time.perf_counter()
            epoch += 1
    finally:
        progress.close()
    curves = ("loss", "lr", "momentum", "knn_top1") if monitor is not None else ("loss", "lr", "momentum")
    run.finish(curves)
    assert run.last_checkpoint is not None
    return run.last_checkpoint


def _check_queue(config: PretrainConfig) -> None:
    per_step = 2 * config.train.global_batch_size
    if config.sce.queue_size % per_step:
        raise ValueError(
            f"sce.queue_size={config.sce.queue_size} must be a multiple of 2 × train.global_batch_size = {per_step} "
            "(both views' keys are enqueued each step, SPEC 2.3)"
        )


def _optimizer(optim: OptimConfig, learner: SCELearner) -> torch.optim.Optimizer:
    params = list(learner.online.parameters())  # the momentum branch is excluded (SPEC 2.7)
    if optim.name == "lars":
        return LARS(
            params,
            lr=0.0,
            momentum=optim.momentum,
            weight_decay=optim.weight_decay,
            trust_coefficient=optim.trust_coefficient,
        )
    return torch.optim.SGD(params, lr=0.0, momentum=optim.momentum, weight_decay=optim.weight_decay)


def _check_finite(fabric: Fabric, loss: torch.Tensor, step: int, last_saved: Path | None) -> None:
    bad = torch.tensor(float(not torch.isfinite(loss.detach())), device=fabric.device)
    if fabric.world_size > 1:
        bad = fabric.all_reduce(bad, reduce_op="sum")  # type: ignore[assignment]
    if bad.item() > 0:
        kept = f"the last good checkpoint is {last_saved}" if last_saved else "no checkpoint was written yet"
        raise NonFiniteLossError(f"non-finite loss ({loss.item()}) at step {step}; stopping; {kept}")


def _state(
    learner: SCELearner,
    optimizer: torch.optim.Optimizer,
    sampler: ResumableBatchSampler,
    schedule: Schedule,
    step: int,
) -> dict[str, Any]:
    """What a checkpoint holds besides the engine's entries (settings, what ran, provenance, checksum)."""
    plan = schedule.plan
    return {
        "learner": learner.state_dict(),
        "optimizer": optimizer.state_dict(),
        "sampler": sampler.state_dict(batches_done=plan.position(step)),
        "step_offset": plan.offset,
        "rng": {"torch": torch.get_rng_state()},
        "schedule": {
            "lr": schedule.lr(plan.index(step) - 1),
            "momentum": schedule.momentum(plan.index(step) - 1),
            "total_steps": schedule.plan.total_steps,
            "steps_per_epoch": schedule.plan.steps_per_epoch,
        },
    }


def _restore(
    resumed: Resumed,
    learner: SCELearner,
    optimizer: torch.optim.Optimizer,
    sampler: ResumableBatchSampler,
    sampler_state: dict[str, Any],
    realign_queue: bool = False,
) -> None:
    """Load the checkpoint's state.

    With a new global batch the queue is rolled so that its pointer is at 0: the keys (a set of negatives) stay, and
    the old pointer need not be a multiple of the new batch's keys.
    """
    payload = resumed.payload
    learner.load_state_dict(payload["learner"])
    optimizer.load_state_dict(payload["optimizer"])
    sampler.load_state_dict(sampler_state)
    torch.set_rng_state(payload["rng"]["torch"])
    criterion = learner.criterion
    if realign_queue and criterion.queue_size:
        with torch.no_grad():
            criterion.queue.copy_(torch.roll(criterion.queue, -int(criterion.queue_ptr), dims=0))
            criterion.queue_ptr.zero_()
