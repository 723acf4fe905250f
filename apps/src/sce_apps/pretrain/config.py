"""Typed settings of the pretraining program; the YAML recipes in ``sce_apps/configs/pretrain/`` fill them.

``data``, ``model``, ``sce`` and ``monitor`` are the program's own sections; ``optim``, ``train`` and ``fabric`` are
the engine's, shared by every program (:mod:`sce_apps.engine.sections`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sce_apps.engine.sections import FabricConfig, OptimConfig, TrainConfig, positive, probability
from sce_apps.trunks import check_trunk_width

__all__ = [
    "DataConfig",
    "DataFormat",
    "FabricConfig",
    "ModelConfig",
    "MonitorConfig",
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
    trunk_width: int = 64
    """R3D trunks: channels of the stem, every stage scaled with it (64: the published trunk; 8: a tiny trial)."""
    projector_hidden_dims: tuple[int, ...] = (1024, 1024)
    """Hidden sizes of the projector (4096, 4096 for ResNet-50 / R3D-50)."""
    projector_out_dim: int = 256
    """Output size of projector and predictor."""
    predictor_hidden_dim: int = 1024
    """Hidden size of the predictor (4096 for ResNet-50 / R3D-50)."""

    def __post_init__(self) -> None:
        positive("model", projector_out_dim=self.projector_out_dim, predictor_hidden_dim=self.predictor_hidden_dim)
        check_trunk_width("model", self.trunk, self.trunk_width)
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
class MonitorConfig:
    """The online k-NN monitor: weighted k-NN top-1 of the online trunk on labelled shards during pretraining.

    Every ``train.val_every_epochs`` epochs and after the last step, the trunk (eval mode) extracts the features of
    one centre clip per video of ``bank`` and ``query`` (split over the processes), and each query is classified by a
    similarity-weighted vote of its ``k`` nearest bank videos (``sce_retrieval.knn_accuracy``). Logged as
    ``knn_top1`` with its cost ``monitor_s``. Off while ``bank`` is empty.
    """

    bank: str = ""
    """Labelled shard folder whose videos vote (e.g. the training split of UCF101); "" turns the monitor off."""
    query: str = ""
    """Labelled shard folder whose videos are classified (e.g. the test split)."""
    k: int = 20
    """Voting neighbours."""
    temperature: float = 0.07
    """Vote temperature (weights exp(cosine / T))."""
    size: int = 112
    """Short side and crop side of the centre clip."""
    batch_size: int = 8
    """Videos per forward pass."""
    num_workers: int = 0
    """Loader workers of the monitor."""

    def __post_init__(self) -> None:
        positive("monitor", k=self.k, temperature=self.temperature, size=self.size, batch_size=self.batch_size)
        if self.bank and not self.query:
            raise ValueError("monitor.query is required with monitor.bank (the labelled shards to classify)")

    @property
    def enabled(self) -> bool:
        """Whether the monitor runs."""
        return bool(self.bank)


@dataclass
class PretrainConfig:
    """Everything ``sce pretrain`` needs; recipes are YAML files of this shape."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    sce: SCEConfig = field(default_factory=SCEConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    fabric: FabricConfig = field(default_factory=FabricConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
