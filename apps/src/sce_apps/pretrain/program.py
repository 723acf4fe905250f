"""``sce pretrain``: SCE pretraining on Lightning Fabric (SPEC 2), from one CPU to a SLURM cluster.

Skeleton (litgpt style): :func:`setup` is the command-line surface; it builds the Fabric and launches :func:`main`,
which builds learner, optimizer and data and calls :func:`fit`, the one training loop.
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

from sce_apps.checkpointing import checkpoint_path, last_checkpoint, load_checkpoint, prune_checkpoints, save_atomic
from sce_apps.fabric_launch import launch_fabric
from sce_apps.loaders import train_loader
from sce_apps.optim import LARS, WarmupCosineSchedule
from sce_apps.pretrain.config import (
    DataConfig,
    FabricConfig,
    ModelConfig,
    OptimConfig,
    PretrainConfig,
    SCEConfig,
    TrainConfig,
)
from sce_apps.pretrain.data import build_dataset, device_views
from sce_apps.pretrain.learner import SCELearner
from sce_apps.run_logs import make_loggers, plot_curves, write_config
from sce_apps.shard_checks import check_pretrain_shards
from sce_backbones import cosine_momentum
from sce_losses import NonFiniteInputError
from sce_video_data import BatchLoader, ResumableBatchSampler

IMAGE_TRUNKS = ("resnet18", "resnet50")


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run stops and keeps its last good checkpoint."""


def setup(
    data: DataConfig = DataConfig(),  # noqa: B008 - immutable in practice; jsonargparse shows the fields
    model: ModelConfig = ModelConfig(),  # noqa: B008
    sce: SCEConfig = SCEConfig(),  # noqa: B008
    optim: OptimConfig = OptimConfig(),  # noqa: B008
    train: TrainConfig = TrainConfig(),  # noqa: B008
    fabric: FabricConfig = FabricConfig(),  # noqa: B008
    out_dir: Path = Path("runs/pretrain"),
    resume: str | None = None,
) -> Path:
    """Pretrain a trunk with Similarity Contrastive Estimation (SCE).

    Args:
        data: training data and loader-stage crops.
        model: trunk and heads.
        sce: loss, queue and momentum encoder.
        optim: optimizer and learning-rate schedule.
        train: run length, batch size, checkpoints, logs.
        fabric: accelerator, devices, nodes, strategy, precision.
        out_dir: run folder: checkpoints/, logs/, plots/, config.yaml.
        resume: "auto" continues the last checkpoint of out_dir (or starts afresh), a path resumes that checkpoint.

    Returns:
        The path of the final checkpoint.
    """
    config = PretrainConfig(data=data, model=model, sce=sce, optim=optim, train=train, fabric=fabric)
    config.data.check_source()
    out_dir = Path(out_dir)
    runtime = launch_fabric(**config.fabric.launch_settings(), loggers=make_loggers(out_dir))
    return main(runtime, config, out_dir, resume)


def main(fabric: Fabric, config: PretrainConfig, out_dir: Path, resume: str | None) -> Path:
    """Build learner, optimizer and data, restore a checkpoint if asked, and train."""
    fabric.seed_everything(config.train.seed)
    world = fabric.world_size
    if config.train.global_batch_size % world:
        raise ValueError(
            f"train.global_batch_size={config.train.global_batch_size} must be divisible by the {world} processes"
        )
    local_batch = config.train.global_batch_size // world
    image = config.model.trunk in IMAGE_TRUNKS
    check_pretrain_shards(config.data, rank=fabric.global_rank)
    dataset = build_dataset(config.data, image=image, device=fabric.device)
    num_samples = len(dataset)  # type: ignore[arg-type]
    steps_per_epoch = num_samples // config.train.global_batch_size
    if steps_per_epoch == 0:
        raise ValueError(
            f"the dataset has {num_samples} samples, fewer than one global batch "
            f"(train.global_batch_size={config.train.global_batch_size})"
        )
    _check_queue(config)
    total_steps = config.train.max_epochs * steps_per_epoch
    if config.train.max_steps is not None:
        total_steps = min(total_steps, config.train.max_steps)

    learner = SCELearner(config.model, config.sce, sync_batchnorm=config.fabric.sync_batchnorm and world > 1)
    if config.fabric.compile:
        for network in (learner.online, learner.momentum.module):
            network.trunk.compile()  # type: ignore[union-attr]
    learner.to(fabric.device)
    optimizer = _optimizer(config.optim, learner)
    online, optimizer = fabric.setup(learner.online, optimizer)
    loader, sampler = train_loader(
        dataset,
        local_batch,
        world=world,
        rank=fabric.global_rank,
        seed=config.train.seed,
        num_workers=config.data.num_workers,
    )
    start_step = _restore(fabric, learner, optimizer, sampler, out_dir, resume, config)
    if fabric.global_rank == 0:
        write_config(out_dir, dataclasses.asdict(config))
    schedule = Schedule(config, steps_per_epoch, total_steps)
    return fit(fabric, config, learner, online, optimizer, loader, sampler, schedule, start_step, out_dir)


@dataclasses.dataclass
class Schedule:
    """Per-step learning rate and EMA momentum: pure functions of the step (SPEC 2.1, 2.7)."""

    config: PretrainConfig
    steps_per_epoch: int
    total_steps: int

    @functools.cached_property
    def lr(self) -> WarmupCosineSchedule:
        """LR of each 0-based optimizer step: peak ``initial_lr × global_batch / 256`` (SPEC 2.7), warmup, cosine."""
        o = self.config.optim
        return WarmupCosineSchedule.from_epochs(
            o.initial_lr,
            self.config.train.global_batch_size,
            scale=o.scale_lr,
            warmup_epochs=o.warmup_epochs,
            steps_per_epoch=self.steps_per_epoch,
            total_steps=self.total_steps,
        )

    @property
    def base_lr(self) -> float:
        """The peak LR."""
        return self.lr.base_lr

    @property
    def warmup_steps(self) -> int:
        """Warmup epochs converted to steps (SPEC 2.7)."""
        return self.lr.warmup_steps

    @property
    def checkpoint_every(self) -> int:
        """Steps between checkpoints (``train.checkpoint_every_epochs`` converted, else ``_steps``)."""
        every = self.config.train.checkpoint_every_epochs
        if every is None:
            return self.config.train.checkpoint_every_steps
        return max(1, round(every * self.steps_per_epoch))

    def momentum(self, step: int) -> float:
        """EMA momentum following optimizer step ``step`` (SPEC 2.1)."""
        s = self.config.sce
        if s.momentum_schedule == "constant":
            return s.initial_momentum
        return cosine_momentum(step, self.total_steps, s.initial_momentum)


def fit(
    fabric: Fabric,
    config: PretrainConfig,
    learner: SCELearner,
    online: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: BatchLoader,
    sampler: ResumableBatchSampler,
    schedule: Schedule,
    start_step: int,
    out_dir: Path,
) -> Path:
    """The training loop: one optimizer step per global batch, symmetric SCE loss, EMA, enqueue, checkpoints."""
    views = device_views(config.data)
    generator = torch.Generator(device=fabric.device)
    num_global = 2
    batch_clips = config.train.global_batch_size * len(views.augmentations)
    last_saved = last_checkpoint(out_dir / "checkpoints") if start_step else None
    step, epoch = start_step, start_step // schedule.steps_per_epoch
    progress = tqdm(
        total=schedule.total_steps,
        initial=start_step,
        disable=fabric.global_rank != 0,
        desc="pretrain",
        unit="step",
        dynamic_ncols=True,
    )
    try:
        data_time = compute_time = 0.0
        while step < schedule.total_steps:
            sampler.set_epoch(epoch)
            tick = time.perf_counter()
            for batch in loader:
                loaded = time.perf_counter()
                generator.manual_seed(config.train.seed * 1_000_003 + step * 1009 + fabric.global_rank)
                crops = views(batch["video"] if "video" in batch else batch["image"], fabric.device, generator)
                lr, momentum = schedule.lr(step), schedule.momentum(step)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                try:
                    with fabric.autocast():
                        loss, keys = learner.loss(online, crops, num_global)
                except NonFiniteInputError:  # the network's outputs are already NaN/inf
                    loss, keys = torch.tensor(float("nan"), device=fabric.device), []
                _check_finite(fabric, loss, step, last_saved)
                fabric.backward(loss)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                learner.after_step(keys, momentum)
                step += 1
                done = time.perf_counter()
                data_time += loaded - tick
                compute_time += done - loaded
                if step % config.train.log_every_steps == 0 or step == schedule.total_steps:
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
                    }
                    fabric.log_dict(metrics, step=step)
                    progress.set_postfix(
                        loss=f"{metrics['loss']:.4f}", lr=f"{lr:.3g}", clips_s=f"{metrics['clips_per_s']:.1f}"
                    )
                    data_time = compute_time = 0.0
                progress.update(1)
                if step % schedule.checkpoint_every == 0 or step == schedule.total_steps:
                    last_saved = _save(fabric, config, learner, optimizer, sampler, schedule, step, out_dir)
                if step >= schedule.total_steps:
                    break
                tick = time.perf_counter()
            epoch += 1
    finally:
        progress.close()
    fabric.barrier()
    for logger in fabric.loggers:
        logger.finalize("success")
    if fabric.global_rank == 0:
        plot_curves(out_dir)
    final = checkpoint_path(out_dir / "checkpoints", schedule.total_steps)
    return final


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


def _save(
    fabric: Fabric,
    config: PretrainConfig,
    learner: SCELearner,
    optimizer: torch.optim.Optimizer,
    sampler: ResumableBatchSampler,
    schedule: Schedule,
    step: int,
    out_dir: Path,
) -> Path:
    directory = out_dir / "checkpoints"
    path = checkpoint_path(directory, step)
    payload: dict[str, Any] = {
        "format": "sce-pretrain/1",
        "step": step,
        "learner": learner.state_dict(),
        "optimizer": optimizer.state_dict(),
        "sampler": sampler.state_dict(batches_done=step % schedule.steps_per_epoch),
        "rng": {"torch": torch.get_rng_state()},
        "schedule": {
            "lr": schedule.lr(step - 1),
            "momentum": schedule.momentum(step - 1),
            "total_steps": schedule.total_steps,
            "steps_per_epoch": schedule.steps_per_epoch,
        },
        "config": dataclasses.asdict(config),
    }
    if fabric.global_rank == 0:
        save_atomic(payload, path)
        prune_checkpoints(directory, config.train.keep_checkpoints, protect=path)
    fabric.barrier()
    return path


def _restore(
    fabric: Fabric,
    learner: SCELearner,
    optimizer: torch.optim.Optimizer,
    sampler: ResumableBatchSampler,
    out_dir: Path,
    resume: str | None,
    config: PretrainConfig,
) -> int:
    if resume is None:
        return 0
    path = last_checkpoint(out_dir / "checkpoints") if resume == "auto" else Path(resume)
    if path is None:
        fabric.print(f"--resume auto: no checkpoint in {out_dir / 'checkpoints'}, starting from step 0")
        return 0
    payload = load_checkpoint(path)
    saved = payload["config"]
    for section in ("model", "sce"):
        if saved.get(section) != dataclasses.asdict(getattr(config, section)):
            raise ValueError(f"{path}: its '{section}' settings differ from this run's: {saved.get(section)}")
    learner.load_state_dict(payload["learner"])
    optimizer.load_state_dict(payload["optimizer"])
    sampler.load_state_dict(payload["sampler"])
    torch.set_rng_state(payload["rng"]["torch"])
    fabric.print(f"resumed from {path} at step {payload['step']}")
    return int(payload["step"])
