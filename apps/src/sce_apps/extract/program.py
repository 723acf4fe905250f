"""``sce extract-features`` (SPEC 5.4): features of every video of a split, averaged over the multi-view protocol.

Each process takes a contiguous slice of the videos and writes its part atomically; rank 0 merges the parts in video
order into one ``sce-retrieval`` bank file. A killed run resumes: parts already written for the same settings are
reused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning_fabric import Fabric

from sce_apps.distributed import rank_slice
from sce_apps.engine.launch import what_ran
from sce_apps.engine.provenance import make_record
from sce_apps.engine.run import launch
from sce_apps.engine.sections import FabricConfig
from sce_apps.features import extract_features, multiview_dataset
from sce_apps.loaders import decode_device, decoder_name
from sce_apps.shard_checks import check_extract_shards
from sce_apps.trunks import build_program_trunk, check_trunk_width, width_mismatch_message
from sce_backbones import WidthMismatchError, load_trunk_weights
from sce_retrieval import FeatureBank


@dataclass
class ExtractConfig:
    """What to extract and how (SPEC 5.4 defaults: 10 clips × 3 crops at short side 256, 8 frames of 2.56 s)."""

    shards: str = ""
    """Shard folder of the split (``sce-shards build``)."""
    out: str = ""
    """Bank file to write (``.npz``)."""
    trunk: str = "r3d18"
    """Trunk name (``sce_backbones.build_trunk``)."""
    trunk_width: int = 64
    """R3D trunks: channels of the stem (64: the published trunk); the pretraining run's ``model.trunk_width``."""
    checkpoint: str | None = None
    """Our ``sce pretrain`` checkpoint or the authors' file; None gives a randomly initialised trunk (a baseline)."""
    prefix: str = "auto"
    """Key prefix of the trunk in the checkpoint (the authors' ``trunk_pattern``); ``auto`` finds it."""
    frames: int = 8
    """Frames per clip."""
    clip_duration: float = 2.56
    """Seconds per clip."""
    clips: int = 10
    """Evenly spaced clips per video (SPEC 5.2)."""
    crops: int = 3
    """Spatial crops per clip: 3 (left, centre, right) or 1 (centre)."""
    size: int = 256
    """Short side and crop size of the views."""
    batch_size: int = 2
    """Videos per forward pass (each gives clips × crops views)."""
    num_workers: int = 2
    """Loader workers per process."""
    decode_device: str = "auto"
    """Where frames are decoded: ``cpu`` (loader workers), ``cuda`` (batched on the GPU), ``auto`` (the GPU if any)."""
    seed: int = 0
    """Seed of the random initialisation (only without a checkpoint)."""

    def __post_init__(self) -> None:
        for name in ("frames", "clips", "size", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.crops not in (1, 3):
            raise ValueError(f"crops must be 1 or 3, got {self.crops}")
        if self.clip_duration <= 0:
            raise ValueError(f"clip_duration must be positive, got {self.clip_duration}")
        check_trunk_width("features", self.trunk, self.trunk_width)


def extract(
    features: ExtractConfig,
    fabric: FabricConfig = FabricConfig(sync_batchnorm=False),  # noqa: B008 - jsonargparse shows the fields
) -> Path:
    """Extract multi-view trunk features of every video of a split into an ``sce-retrieval`` bank file.

    Args:
        features: what to extract and how (``--features.shards``, ``--features.checkpoint``, ...).
        fabric: accelerator, devices (each process extracts a slice of the videos), strategy, CPU threads.

    Returns:
        The bank file.
    """
    config = features
    if not config.shards or not Path(config.shards).is_dir():
        raise FileNotFoundError(f"shards: not a shard folder: {config.shards!r}")
    if not config.out:
        raise ValueError("out: the bank file to write is required")
    if config.checkpoint is not None and not Path(config.checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint not found: {config.checkpoint}")
    runtime, _ = launch(fabric, None, loader_workers=config.num_workers)
    out = run(runtime, config)
    runtime.print(f"bank written: {out}")
    return out


def run(fabric: Fabric, config: ExtractConfig) -> Path:
    """Extract this process's slice, then merge on rank 0."""
    check_extract_shards(config, rank=fabric.global_rank)
    out = Path(config.out)
    trunk = _trunk(config)
    dataset = multiview_dataset(
        config.shards,
        frames=config.frames,
        clip_duration=config.clip_duration,
        clips=config.clips,
        size=config.size,
        crops=config.crops,
        decode_device=decode_device(config.decode_device, fabric.device),
    )
    rows = rank_slice(len(dataset), fabric.global_rank, fabric.world_size)
    part = _part_path(out, config, fabric.global_rank, fabric.world_size)
    if len(rows) and not part.exists():  # a part left by a killed run with the same settings is reused
        bank = extract_features(
            trunk,
            dataset,
            indices=rows,
            batch_size=config.batch_size,
            num_workers=config.num_workers,
            device=fabric.device,
            progress=fabric.global_rank == 0,
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        bank.save(part)
    fabric.barrier()
    if fabric.global_rank == 0:
        decoder = {"features": decoder_name("video_shards", decode_device(config.decode_device, fabric.device))}
        provenance = make_record(
            "extract", {"features": dataclasses.asdict(config)}, what_ran(fabric, torch.get_num_threads()), decoder
        )
        _merge(
            out,
            config,
            [r for r in range(fabric.world_size) if len(rank_slice(len(dataset), r, fabric.world_size))],
            fabric.world_size,
            provenance,
        )
    fabric.barrier()
    return out


def _trunk(config: ExtractConfig) -> torch.nn.Module:
    torch.manual_seed(config.seed)
    trunk = build_program_trunk(config.trunk, width=config.trunk_width)
    if config.checkpoint is not None:
        try:
            load_trunk_weights(trunk, config.checkpoint, prefix=config.prefix)
        except WidthMismatchError as error:
            raise ValueError(width_mismatch_message("features", config.checkpoint, config.trunk, error)) from error
    return trunk


def _fingerprint(config: ExtractConfig) -> str:
    fields = dataclasses.asdict(config)
    fields.pop("num_workers")
    fields.pop("decode_device")
    fields.pop("batch_size")
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


def _part_path(out: Path, config: ExtractConfig, rank: int, world: int) -> Path:
    return out.with_name(f".{out.stem}.part-{_fingerprint(config)}-{rank}-of-{world}.npz")


def _merge(out: Path, config: ExtractConfig, ranks: list[int], world: int, provenance: dict[str, Any]) -> None:
    """Concatenate the parts of ``ranks`` (those with videos) in rank order, i.e. in video order; delete them.

    The bank's metadata holds the extraction settings and the provenance record (the shards' content hash, the
    checkpoint's own provenance hash, versions, decoder).
    """
    parts = [FeatureBank.load(_part_path(out, config, r, world)) for r in ranks]
    metadata = {
        "trunk": config.trunk,
        "trunk_width": config.trunk_width,
        "checkpoint": config.checkpoint,
        "prefix": config.prefix,
        "views": f"{config.clips} clips x {config.crops} crops at {config.size}",
        "frames": config.frames,
        "clip_duration": config.clip_duration,
        "shards": str(config.shards),
        "provenance": provenance,
    }
    merged = FeatureBank(
        np.concatenate([p.features for p in parts]),
        np.concatenate([p.labels for p in parts]),
        ids=[i for p in parts for i in (p.ids or [])],
        class_names=parts[0].class_names,
        metadata=metadata,
        thumbnails=np.concatenate([p.thumbnails for p in parts])
        if all(p.thumbnails is not None for p in parts)
        else None,
    )
    merged.save(out)
    for r in ranks:
        _part_path(out, config, r, world).unlink(missing_ok=True)
