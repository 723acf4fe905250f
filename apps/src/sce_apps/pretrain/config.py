"""Typed settings of the pretraining program; the YAML recipes in ``sce_apps/configs/pretrain/`` fill them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sce_apps.settings import FabricConfig, non_negative, positive, probability

__all__ = [
    "DataConfig",
    "DataFormat",
    "FabricConfig",
    "ModelConfig",
    "OptimConfig",
    "PretrainConfig",
    "SCEConfig",
    "TrainConfig",
]

DataFormat = Literal["video_shards", "video_files", "image_shards", "synthetic"]


@dataclass
class DataConfig:
    """Where training clips come from and how each sample is cropped (SPEC 4.2, 3.3)."""

    path: str = ""
    """Shard folder (``video_shards``, ``image_shards``) or videos root (``video_files``); unused for ``synthetic``."""
    format: DataFormat = "video_shards"
    """``video_shards`` (``sce-shards build``), ``video_files`` (PyAV on the fly), ``image_shards`` or ``synthetic``."""
    layout: Literal["ucf101", "hmdb51", "kinetics", "folders"] = "folders"
    """Dataset layout of ``video_files``."""
    splits: str | None = None
    """Split files folder of ``video_files`` (None: found beside the videos)."""
    split: Literal["train", "test"] = "train"
    """Split of ``video_files``."""
    split_id: int = 1
    """Split number (UCF101 / HMDB51) of ``video_files``."""
    frames: int = 8
    """Frames per clip, uniformly subsampled inside each clip."""
    clip_duration: float = 2.56
    """Seconds covered by each clip."""
    crop_size: int = 224
    """Side of the square random-resized crop."""
    crop_scale: tuple[float, float] = (0.2, 0.766)
    """Area range of the random-resized crop (SPEC 4.2: video 0.2-0.766; images 0.2-1.0)."""
    time_difference_prob: float = 0.2
    """Probability of the grayscale temporal difference per clip (SPEC 4.2)."""
    num_local_crops: int = 0
    """Images only: local crops of multi-crop (4 for the five-crop recipe, SPEC 3.3)."""
    augment: Literal["video_sce", "image_sce", "none"] = "video_sce"
    """Batched photometric views on the device: SPEC 4.3 (video), SPEC 3.3 (images) or none (tests)."""
    num_workers: int = 4
    """Loader worker processes per device."""
    decode_device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where shard frames are decoded: ``cpu`` (loader workers), ``cuda`` (batched on the GPU), ``auto`` (the GPU
    when training on CUDA)."""
    synthetic_size: int = 64
    """Number of samples of the ``synthetic`` format."""
    synthetic_resolution: int = 32
    """Frame side of the ``synthetic`` format."""

    def __post_init__(self) -> None:
        positive("data", frames=self.frames, clip_duration=self.clip_duration, crop_size=self.crop_size)
        probability("data", time_difference_prob=self.time_difference_prob)
        low, high = self.crop_scale
        if not 0 < low <= high <= 1:
            raise ValueError(f"data.crop_scale must satisfy 0 < low <= high <= 1, got {self.crop_scale}")
        if self.num_workers < 0 or self.num_local_crops < 0:
            raise ValueError(
                f"data.num_workers and data.num_local_crops must be >= 0, got {self.num_workers}, "
                f"{self.num_local_crops}"
            )

    def check_source(self) -> None:
        """Raise unless the data source exists (run before any work; the defaults alone name no source)."""
        if self.format == "synthetic":
            return
        if not self.path:
            raise ValueError(f"data.path is required for data.format={self.format!r}")
        if not Path(self.path).exists():
            raise FileNotFoundError(f"data.path does not exist: {self.path}")


@dataclass
class ModelConfig:
    """Trunk and heads (SPEC 2.1, 2.2, 4.1)."""

    trunk: Literal["r3d18", "r3d50", "r2plus1d18", "resnet18", "resnet50"] = "r3d18"
    """Trunk name (``sce_backbones.build_trunk``)."""
    small_input: bool = False
    """Image trunks: CIFAR stem (3x3 stride-1 conv, no max-pool)."""
    projector_hidden_dims: tuple[int, ...] = (1024, 1024)
    """Hidden sizes of the projector (4096, 4096 for ResNet-50 / R3D-50)."""
    projector_out_dim: int = 256
    """Output size of projector and predictor."""
    predictor_hidden_dim: int = 1024
    """Hidden size of the predictor (4096 for ResNet-50 / R3D-50)."""

    def __post_init__(self) -> None:
        positive("model", projector_out_dim=self.projector_out_dim, predictor_hidden_dim=self.predictor_hidden_dim)
        if not self.projector_hidden_dims or min(self.projector_hidden_dims) <= 0:
            raise ValueError(f"model.projector_hidden_dims must be positive sizes, got {self.projector_hidden_dims}")


@dataclass
class SCEConfig:
    """Loss, queue and momentum encoder (SPEC 1.2, 2.1, 2.3)."""

    coeff: float = 0.5
    """λ, the weight of the one-hot positive in the target."""
    temp: float = 0.1
    """τ of the online distribution."""
    temp_m: float = 0.05
    """τm of the momentum distribution (0.05 video, 0.07 images)."""
    queue_size: int = 65536
    """K; must be a multiple of 2 × the global batch (both views are enqueued)."""
    use_keys: bool = False
    """Use the other keys of the global batch as extra negatives (not in the published recipes)."""
    initial_momentum: float = 0.99
    """m0 of the EMA."""
    momentum_schedule: Literal["cosine", "constant"] = "cosine"
    """Per-step cosine from m0 to 1 (SPEC 2.1), or constant m0."""

    def __post_init__(self) -> None:
        positive("sce", temp=self.temp, temp_m=self.temp_m)
        probability("sce", initial_momentum=self.initial_momentum)
        if self.queue_size < 0:
            raise ValueError(f"sce.queue_size must be >= 0, got {self.queue_size}")


@dataclass
class OptimConfig:
    """Optimizer and learning-rate schedule (SPEC 2.7)."""

    name: Literal["lars", "sgd"] = "lars"
    """LARS (trust 1e-3, no decay or adaptation for 1-D parameters) or plain SGD."""
    initial_lr: float = 2.4
    """LR before the batch scaling; the peak LR is initial_lr × global_batch / 256 when scale_lr is set."""
    scale_lr: bool = True
    """Apply the linear scaling rule."""
    weight_decay: float = 1e-6
    """Weight decay (LARS: only on parameters with ndim > 1)."""
    momentum: float = 0.9
    """Heavy-ball momentum."""
    trust_coefficient: float = 1e-3
    """LARS η."""
    warmup_epochs: float = 35
    """Linear warmup from 0, in epochs (converted to steps)."""

    def __post_init__(self) -> None:
        positive("optim", initial_lr=self.initial_lr, trust_coefficient=self.trust_coefficient)
        non_negative("optim", weight_decay=self.weight_decay, warmup_epochs=self.warmup_epochs)


@dataclass
class TrainConfig:
    """Run length, batch and bookkeeping."""

    global_batch_size: int = 512
    """Samples per optimizer step over all devices (split evenly)."""
    max_epochs: int = 200
    """Epochs; with steps per epoch = dataset size // global batch (SPEC 2.1) this fixes the schedules."""
    max_steps: int | None = None
    """Cap on the total steps (the schedules then span the capped run)."""
    checkpoint_every_steps: int = 1000
    """Save a checkpoint every N steps (and always at the end)."""
    checkpoint_every_epochs: float | None = None
    """If set, save every N epochs instead (the recipes: 50 on K400, 100 on K200 and ImageNet)."""
    keep_checkpoints: int = 2
    """Most recent periodic checkpoints kept on disk."""
    log_every_steps: int = 10
    """Log metrics every N steps."""
    seed: int = 42
    """Seed of everything (SPEC 2.7)."""

    def __post_init__(self) -> None:
        positive(
            "train",
            global_batch_size=self.global_batch_size,
            max_epochs=self.max_epochs,
            checkpoint_every_steps=self.checkpoint_every_steps,
            log_every_steps=self.log_every_steps,
            keep_checkpoints=self.keep_checkpoints,
        )
        if self.checkpoint_every_epochs is not None and self.checkpoint_every_epochs <= 0:
            raise ValueError(
                f"train.checkpoint_every_epochs must be positive or null, got {self.checkpoint_every_epochs}"
            )
        if self.max_steps is not None and self.max_steps <= 0:
            raise ValueError(f"train.max_steps must be positive or null, got {self.max_steps}")


@dataclass
class PretrainConfig:
    """Everything ``sce pretrain`` needs; recipes are YAML files of this shape."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    sce: SCEConfig = field(default_factory=SCEConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    fabric: FabricConfig = field(default_factory=FabricConfig)
