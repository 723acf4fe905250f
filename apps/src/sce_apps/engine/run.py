"""The life of a run, the same for every program: launch, resume, log, checkpoint, finish.

A program calls :func:`launch` (the Fabric, its processes, the CPU threads), builds its model and data, calls
:func:`resume` (the checkpoint to continue from, if any, checked against the current settings), then
:meth:`Run.start` (``config.yaml`` with what really ran, the metrics log), and inside its one training loop
:meth:`Run.log` and :meth:`Run.save`; :meth:`Run.finish` closes the logs, draws the curves and says where the outputs
are.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from lightning_fabric import Fabric
from lightning_fabric.loggers import TensorBoardLogger

from sce_apps.engine.atomic import OutOfSpaceError, atomic_write_text
from sce_apps.engine.checkpoints import (
    checkpoint_path,
    load_checkpoint,
    newest_readable_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)
from sce_apps.engine.launch import launch_fabric, what_ran
from sce_apps.engine.metrics import MetricsLog, plot_curves
from sce_apps.engine.provenance import flatten, make_record
from sce_apps.engine.sections import FabricConfig, TrainConfig
from sce_apps.engine.threads import AdaptiveThreads, local_processes

__all__ = ["Resumed", "Run", "StepPlan", "launch", "resume", "settings_differences", "step_seed"]


def launch(fabric_config: FabricConfig, out_dir: Path | None, loader_workers: int) -> tuple[Fabric, AdaptiveThreads]:
    """Start the processes (unless a launcher did), with a TensorBoard logger when ``out_dir`` is given.

    torch's CPU threads are sized from the CPUs this process is granted, shared among the node's training processes
    and their ``loader_workers`` (``fabric.cpu_threads`` overrides; see :mod:`sce_apps.engine.threads`).
    """
    loggers = [TensorBoardLogger(out_dir / "logs", name="tensorboard")] if out_dir is not None else []
    fabric = launch_fabric(**fabric_config.launch_settings(), loggers=loggers)
    processes = local_processes(
        default=max(1, fabric.world_size // max(1, int(getattr(fabric.strategy, "num_nodes", 1))))
    )
    threads = AdaptiveThreads(processes, loader_workers, override=fabric_config.cpu_threads)
    return fabric, threads


def step_seed(seed: int, step: int, rank: int) -> int:
    """Seed of the device-stage augmentations of ``step`` on ``rank``: the same on resume as in an unbroken run."""
    return seed * 1_000_003 + step * 1009 + rank


@dataclass(frozen=True)
class StepPlan:
    """Step arithmetic of a run: steps per epoch from the dataset and the global batch, the total, the periods."""

    steps_per_epoch: int
    total_steps: int
    checkpoint_every_epochs: float
    checkpoint_every_steps: int | None
    val_every_epochs: int
    offset: int = 0
    """Logged step minus plan step. 0, except in a run resumed with another global batch
    (``--allow_global_batch_change``): its step count goes on from the checkpoint's while the schedules continue from
    the equivalent position in the new plan (:meth:`Resumed.continue_plan`)."""

    @classmethod
    def of(cls, train: TrainConfig, num_samples: int, world_size: int, what: str = "the dataset") -> StepPlan:
        """The plan of ``train`` over ``num_samples`` training samples and ``world_size`` processes.

        Raises:
            ValueError: the global batch does not split evenly over the processes, or exceeds the dataset.
        """
        if train.global_batch_size % world_size:
            raise ValueError(
                f"train.global_batch_size={train.global_batch_size} must be divisible by the {world_size} processes"
            )
        steps_per_epoch = num_samples // train.global_batch_size
        if steps_per_epoch == 0:
            raise ValueError(
                f"{what} has {num_samples} training samples, fewer than one global batch "
                f"(train.global_batch_size={train.global_batch_size})"
            )
        total = train.max_epochs * steps_per_epoch
        if train.max_steps is not None:
            total = min(total, train.max_steps)
        return cls(
            steps_per_epoch,
            total,
            train.checkpoint_every_epochs,
            train.checkpoint_every_steps,
            train.val_every_epochs,
        )

    @property
    def end(self) -> int:
        """The (logged) step the run ends at: ``total_steps + offset``."""
        return self.total_steps + self.offset

    def index(self, step: int) -> int:
        """The plan step (what the schedules see) of logged step ``step``."""
        return step - self.offset

    def position(self, step: int) -> int:
        """Global batches of the current epoch done after ``step`` (logged) steps: the sampler's position."""
        return self.index(step) % self.steps_per_epoch

    def epoch_of(self, step: int) -> int:
        """The 0-based epoch that optimizer step ``step`` (0-based, logged) belongs to."""
        return self.index(step) // self.steps_per_epoch

    def _crossed(self, step: int, every_steps: float) -> bool:
        every = max(1, round(every_steps))
        return step % every == 0

    def checkpoint_due(self, step: int) -> bool:
        """After ``step`` steps done: every ``checkpoint_every_epochs`` epochs or ``_steps`` steps, and at the end."""
        if step >= self.end:
            return True
        if self.checkpoint_every_steps is not None and step % self.checkpoint_every_steps == 0:
            return True
        return self._crossed(self.index(step), self.checkpoint_every_epochs * self.steps_per_epoch)

    def validation_due(self, step: int) -> bool:
        """After ``step`` steps done: at the end of every ``val_every_epochs``-th epoch, and after the last step."""
        return step >= self.end or self._crossed(self.index(step), self.val_every_epochs * self.steps_per_epoch)


def settings_differences(saved: dict[str, Any], current: dict[str, Any], fields: tuple[str, ...]) -> list[str]:
    """The settings among ``fields`` (dotted paths; a section name covers all its fields) that differ.

    A field missing from ``saved`` (added to sce after the checkpoint was written) is not a difference.
    """
    old, new = ({k: list(v) if isinstance(v, tuple) else v for k, v in flatten(d).items()} for d in (saved, current))
    found = []
    for name in sorted(new):
        if not any(name == f or name.startswith(f + ".") for f in fields) or name not in old:
            continue
        if old[name] != new[name]:
            found.append(f"{name}: {old[name]!r} in the checkpoint, {new[name]!r} now")
    return found


@dataclass
class Resumed:
    """The checkpoint a run continues from."""

    path: Path
    payload: dict[str, Any]

    @property
    def step(self) -> int:
        """Optimizer steps done when it was saved."""
        return int(self.payload["step"])

    def continue_plan(self, plan: StepPlan, global_batch: int) -> tuple[StepPlan, dict[str, Any]]:
        """``plan`` placed where the checkpoint stopped, and the sampler state to load.

        The sampler's position is the number of global batches of the epoch done, so it holds for any number of
        processes. When the global batch changed (allowed by ``--allow_global_batch_change``), the position is
        converted through the rows done (``batches_done × old batch // new batch`` global batches of the new size;
        the rows of a partly done new batch are read again), the schedules continue from that position of the new
        plan, and the step count goes on from the checkpoint's (:attr:`StepPlan.offset`).
        """
        state = dict(self.payload["sampler"])
        offset = int(self.payload.get("step_offset", 0))
        if int(state.get("global_batch", global_batch)) == global_batch:
            return dataclasses.replace(plan, offset=offset), state
        rows_done = int(state["batches_done"]) * int(state["global_batch"])
        state.update(global_batch=global_batch, batches_done=rows_done // global_batch)
        position = int(state["epoch"]) * plan.steps_per_epoch + state["batches_done"]
        return dataclasses.replace(plan, offset=self.step - position), state

    def batch_change(self, global_batch: int) -> dict[str, Any]:
        """``{"global_batch_change": {"from", "to", "at_step"}}`` when the global batch changed, else ``{}``.

        What the provenance's ``overrides_allowed`` records.
        """
        old = self.payload["sampler"].get("global_batch")
        if old is None or old == global_batch:
            return {}
        return {"global_batch_change": {"from": old, "to": global_batch, "at_step": self.step}}


def resume(
    fabric: Fabric,
    out_dir: Path,
    how: str | None,
    programs: tuple[str, ...],
    settings: dict[str, Any],
    math_fields: tuple[str, ...],
    allow_global_batch_change: bool = False,
) -> Resumed | None:
    """The checkpoint to continue from: ``how`` = None (start afresh), ``"auto"`` or a path.

    ``auto`` takes the newest checkpoint of ``<out_dir>/checkpoints`` that reads and matches its checksum,
    skipping (and naming) damaged ones, and starts afresh when there is none. A checkpoint whose settings differ from
    the current ones in what changes the mathematics of the run (``math_fields``) is refused, listing every
    difference; any other setting may change (workers, logging, paths, fields added since), and so may the number
    of processes (the loader's position is global). A change of ``train.global_batch_size`` is refused with its own
    line unless ``allow_global_batch_change`` (then :meth:`Resumed.continue_plan` converts the position, and the
    override is recorded in the run's provenance).

    Raises:
        CheckpointError: an explicit path that is damaged or of another program.
        ValueError: the settings differ in ``math_fields``, or the global batch changed without the override.
    """
    if how is None:
        return None
    if how == "auto":
        found = newest_readable_checkpoint(out_dir / "checkpoints", programs, warn=fabric.print)
        if found is None:
            fabric.print(f"--resume auto: no readable checkpoint in {out_dir / 'checkpoints'}, starting from step 0")
            return None
        resumed = Resumed(*found)
    else:
        resumed = Resumed(Path(how), load_checkpoint(Path(how), programs))
    saved = resumed.payload.get("settings", {})
    old_batch = (saved.get("train") or {}).get("global_batch_size")
    new_batch = settings["train"]["global_batch_size"]
    if old_batch is not None and old_batch != new_batch:
        if not allow_global_batch_change:
            raise ValueError(
                f"cannot resume from {resumed.path}: train.global_batch_size is {new_batch} now and was {old_batch} "
                f"in the checkpoint; the learning rate is scaled from the global batch (initial_lr x batch / 256), "
                "the schedules and the epoch position count global batches, and a queue fills with the keys of each "
                f"one: keep {old_batch} (with any number of processes), or pass --allow_global_batch_change true to "
                "continue with the new one (recorded in the run's provenance)"
            )
        fabric.print(
            f"--allow_global_batch_change: the global batch goes from {old_batch} to {new_batch}; the learning rate "
            "is scaled from the new one and the schedules continue from the same position in the data"
        )
    fields = tuple(f for f in math_fields if f != "train.global_batch_size")
    differences = settings_differences(saved, settings, fields)
    if differences:
        raise ValueError(
            f"cannot resume from {resumed.path}: it was written with other settings that change the run's "
            f"mathematics ({'; '.join(differences)}); use the same settings, or another out_dir to start afresh"
        )
    fabric.print(f"resuming from {resumed.path} at step {resumed.step}")
    return resumed


def _finite_parameters(state: dict[str, Any]) -> list[str]:
    """Names of floating-point tensors of ``state`` (nested) that hold NaN or infinity, or exceed 1e18."""
    bad: list[str] = []

    def walk(value: Any, name: str) -> None:
        if isinstance(value, torch.Tensor):
            floating = value.is_floating_point() and value.numel() > 0
            if floating and (not torch.isfinite(value).all() or float(value.detach().abs().max()) > 1e18):
                bad.append(name)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{name}.{key}" if name else str(key))

    walk(state, "")
    return bad


@dataclass
class Run:
    """A started run: where it writes, what it logs, how it checkpoints."""

    fabric: Fabric
    program: str
    out_dir: Path
    settings: dict[str, Any]
    """The resolved settings, with the ``fabric`` section as it really ran."""
    record: dict[str, Any]
    """What ran: world size, nodes, strategy, precision, launcher, CPU threads."""
    metrics: MetricsLog
    threads: AdaptiveThreads
    provenance: dict[str, Any] = field(default_factory=dict)
    """What the run came from (:mod:`sce_apps.engine.provenance`): in ``config.yaml``, the header of
    ``metrics.jsonl`` and every checkpoint."""
    keep_checkpoints: int = 2
    last_checkpoint: Path | None = None
    outputs: list[Path] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        fabric: Fabric,
        program: str,
        config: Any,
        out_dir: Path,
        threads: AdaptiveThreads,
        resumed: Resumed | None,
        *,
        decoder: dict[str, str] | None = None,
        overrides_allowed: dict[str, Any] | None = None,
        effective_lr: dict[str, Any] | None = None,
    ) -> Run:
        """Write ``config.yaml`` (the settings as run, with the provenance record) and open the metrics log.

        The metrics log continues when resuming; its header holds the provenance record.

        Args:
            fabric: The launched Fabric.
            program: ``pretrain``, ``linear`` or ``finetune``.
            config: The program's settings (a dataclass of sections).
            out_dir: The run folder.
            threads: The CPU threads of the run.
            resumed: The checkpoint the run continues from, if any.
            decoder: Which decoder reads each dataset (``{"data": "jpeg: simplejpeg (libjpeg-turbo), cpu"}``).
            overrides_allowed: Explicit overrides the user gave to continue despite a change (recorded).
            effective_lr: The peak learning rate and the global batch it was scaled from (recorded).
        """
        record = what_ran(fabric, threads.current)
        settings = dataclasses.asdict(config)
        settings["fabric"].update(
            accelerator=record["accelerator"],
            devices=record["devices_per_node"],
            num_nodes=record["num_nodes"],
            strategy=record["strategy"],
            precision=record["precision"],
        )
        allowed = dict(overrides_allowed or {})
        if resumed is not None:
            previous = resumed.payload.get("provenance") or {}
            allowed["resumed_from"] = {
                "path": str(resumed.path),
                "step": resumed.step,
                "world_size": (resumed.payload.get("run") or {}).get("world_size"),
                "provenance_hash": previous.get("hash"),
            }
        provenance = make_record(
            program, settings, record, decoder or {}, overrides_allowed=allowed, effective_lr=effective_lr
        )
        rank_zero = fabric.global_rank == 0
        if rank_zero:
            write_settings(out_dir, {**settings, "run": record, "provenance": provenance})
        return cls(
            fabric=fabric,
            program=program,
            out_dir=out_dir,
            settings=settings,
            record=record,
            metrics=MetricsLog(
                out_dir, resumed.step if resumed else None, enabled=rank_zero, header={"provenance": provenance}
            ),
            threads=threads,
            provenance=provenance,
            keep_checkpoints=int(config.train.keep_checkpoints),
            last_checkpoint=resumed.path if resumed else None,
        )

    def log(self, metrics: dict[str, float], step: int) -> None:
        """Log to TensorBoard and to the crash-proof ``metrics.jsonl`` / ``metrics.csv`` (rank 0)."""
        self.fabric.log_dict(metrics, step=step)
        self.metrics.log(metrics, step)

    def save(self, step: int, state: dict[str, Any], name: str | None = None) -> Path:
        """Write a checkpoint of ``state`` at ``step`` (rank 0), make the metrics durable, wait for every rank.

        Periodic checkpoints (``name`` None: ``step-XXXXXXXX.ckpt``) are pruned to ``train.keep_checkpoints``;
        named ones (``best.ckpt``) are kept. A state holding NaN, infinite or exploded (> 1e18) values is not
        written: the run stops, keeping the last good checkpoint.

        Raises:
            OutOfSpaceError: on every rank, when rank 0 ran out of space (the previous checkpoint is intact).
            FloatingPointError: the state is not finite.
        """
        directory = self.out_dir / "checkpoints"
        path = directory / name if name else checkpoint_path(directory, step)
        failure: str | None = None
        if self.fabric.global_rank == 0:
            bad = _finite_parameters(state)
            if bad:
                kept = self.last_checkpoint or "none was written"
                failure = (
                    f"float:at step {step} the state holds NaN, infinite or exploded values ({', '.join(bad[:3])}"
                    f"{', ...' if len(bad) > 3 else ''}); stopping; the last good checkpoint: {kept}"
                )
            else:
                try:
                    save_checkpoint(
                        path,
                        self.program,
                        step,
                        state,
                        settings=self.settings,
                        run=self.record,
                        provenance=self.provenance,
                    )
                    if name is None:
                        prune_checkpoints(directory, self.keep_checkpoints, protect=path)
                except OutOfSpaceError as error:
                    failure = f"space:{error}"
            self.metrics.sync()
        if self.fabric.world_size > 1:
            failure = self.fabric.broadcast(failure, src=0)
        if failure is not None:
            kind, message = failure.split(":", 1)
            raise (OutOfSpaceError(28, message) if kind == "space" else FloatingPointError(message))
        if name is None:
            self.last_checkpoint = path
        self.fabric.barrier()
        return path

    def finish(self, curves: tuple[str, ...], outputs: list[Path] | None = None) -> None:
        """Close the logs, draw ``plots/training_curves.png`` and print where the outputs of the run are."""
        self.fabric.barrier()
        for logger in self.fabric.loggers:
            logger.finalize("success")
        self.metrics.close()
        if self.fabric.global_rank != 0:
            return
        plot = plot_curves(self.out_dir, names=curves)
        listed = [*(outputs or []), self.out_dir / "metrics.csv", self.out_dir / "config.yaml"]
        if self.last_checkpoint is not None:
            listed.insert(0, self.last_checkpoint)
        if plot is not None:
            listed.append(plot)
        listed.append(self.out_dir / "logs" / "tensorboard")
        self.fabric.print(f"outputs in {self.out_dir}:\n" + "\n".join(f"  {p}" for p in listed))


def write_settings(out_dir: Path, settings: dict[str, Any]) -> Path:
    """Write the resolved ``settings`` of a run to ``<out_dir>/config.yaml`` (temporary name, then rename)."""
    import yaml

    return atomic_write_text(out_dir / "config.yaml", yaml.safe_dump(_plain(settings), sort_keys=False))


def _plain(value: Any) -> Any:
    """``value`` with tuples as lists and infinities as strings, so that ``yaml.safe_dump`` takes it."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and math.isinf(value):
        return str(value)
    return value
