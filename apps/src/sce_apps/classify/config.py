"""Typed settings of ``sce linear-eval`` and ``sce finetune``; the recipes in ``sce_apps/configs/{linear,finetune}/``.

``data`` and ``model`` are their own sections; ``optim``, ``train`` and ``fabric`` are the engine's, shared by every
program (:mod:`sce_apps.engine.sections`). The two programs share these sections; only their defaults differ: the
signatures of
:func:`sce_apps.classify.program.linear_eval` (SPEC 5.2) and :func:`sce_apps.classify.program.finetune` (SPEC 5.3).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from sce_apps.engine.sections import FabricConfig, OptimConfig, TrainConfig, positive
from sce_apps.trunks import check_trunk_width

__all__ = [
    "ClassifyConfig",
    "ClassifyDataConfig",
    "ClassifyModelConfig",
    "FINETUNE_OPTIM",
    "FINETUNE_TRAIN",
    "LINEAR_OPTIM",
    "LINEAR_TRAIN",
    "FabricConfig",
    "OptimConfig",
    "Protocol",
    "TrainConfig",
]

Protocol = Literal["linear", "finetune"]
TrunkName = Literal["r3d18", "r3d50", "r2plus1d18", "resnet18", "resnet50"]


@dataclass
class ClassifyDataConfig:
    """Training, validation and test data, and their views (SPEC 5.1-5.3)."""

    train: str = ""
    """Shard folder of the training split (``sce-shards build``)."""
    test: str = ""
    """Shard folder of the test split, whose multi-view top-1 / top-5 are the reported numbers ("" skips the test)."""
    format: Literal["video_shards", "image_shards"] = "video_shards"
    """``video_shards`` or ``image_shards`` (``sce-shards build --layout imagefolder``)."""
    val: Literal["heldout", "test", "none"] = "heldout"
    """Model selection data: ``heldout`` (a part of the training split, not trained on), ``test`` (the authors'
    setting: the test split selects the best checkpoint, SPEC 8.2; results say so) or ``none``."""
    val_fraction: float = 0.1
    """Share of the training videos held out per class with ``val: heldout`` (UCF101 groups stay whole)."""
    frames: int = 8
    """Frames per clip, uniformly subsampled inside each clip."""
    clip_duration: float = 2.56
    """Seconds covered by each clip."""
    train_crop_size: int = 224
    """Side of the training crop."""
    train_short_side: tuple[int, int] = (256, 320)
    """Videos: the random short side of the training clip before the random crop (SPEC 5.2, 5.3)."""
    train_crop_scale: tuple[float, float] = (0.08, 1.0)
    """Images: area range of the random-resized training crop (SPEC 5.1: torchvision's defaults)."""
    augment: Literal["linear", "finetune", "none"] = "linear"
    """Device stage of training: ``linear`` (flip, normalise), ``finetune`` (colour jitter, grayscale, flip,
    normalise; SPEC 5.3) or ``none`` (normalise only)."""
    eval_clips: int = 10
    """Evenly spaced clips per test video (SPEC 5.2); images use 1."""
    eval_crops: int = 3
    """Spatial crops per test clip: 3 (left, centre, right) or 1 (centre)."""
    eval_short_side: int = 256
    """Short side of the test views (SPEC 5.2: 256; images: 256 then a centre crop)."""
    eval_crop_size: int = 256
    """Side of the test crops (video 256, SPEC 5.2; images 224, SPEC 5.1)."""
    eval_batch_size: int = 2
    """Videos (or images) per evaluation forward; each video gives ``eval_clips × eval_crops`` views."""
    num_workers: int = 4
    """Loader worker processes per device."""
    decode_device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where shard frames are decoded: ``cpu`` (loader workers), ``cuda`` (batched on the GPU), ``auto`` (the GPU
    when running on CUDA)."""

    def __post_init__(self) -> None:
        positive(
            "data",
            frames=self.frames,
            clip_duration=self.clip_duration,
            train_crop_size=self.train_crop_size,
            eval_clips=self.eval_clips,
            eval_short_side=self.eval_short_side,
            eval_crop_size=self.eval_crop_size,
            eval_batch_size=self.eval_batch_size,
        )
        if self.eval_crops not in (1, 3):
            raise ValueError(f"data.eval_crops must be 1 (centre) or 3 (left, centre, right), got {self.eval_crops}")
        if self.eval_crop_size > self.eval_short_side:
            raise ValueError(
                f"data.eval_crop_size={self.eval_crop_size} must not exceed data.eval_short_side={self.eval_short_side}"
            )
        low, high = self.train_short_side
        if not 0 < low <= high or high < self.train_crop_size:
            raise ValueError(
                f"data.train_short_side must satisfy 0 < low <= high and high >= train_crop_size, got "
                f"{self.train_short_side} with train_crop_size={self.train_crop_size}"
            )
        low_scale, high_scale = self.train_crop_scale
        if not 0 < low_scale <= high_scale <= 1:
            raise ValueError(f"data.train_crop_scale must satisfy 0 < low <= high <= 1, got {self.train_crop_scale}")
        if self.val == "heldout" and not 0 < self.val_fraction < 1:
            raise ValueError(f"data.val_fraction must be in (0, 1) with data.val=heldout, got {self.val_fraction}")
        if self.num_workers < 0:
            raise ValueError(f"data.num_workers must be >= 0, got {self.num_workers}")
        if self.val == "test" and not self.test:
            raise ValueError("data.val=test needs data.test (the test split's shard folder)")


@dataclass
class ClassifyModelConfig:
    """The trunk, where its weights come from, and the classification head."""

    trunk: TrunkName = "r3d18"
    """Trunk name (``sce_backbones.build_trunk``)."""
    small_input: bool = False
    """Image trunks: CIFAR stem (3x3 stride-1 conv, no max-pool)."""
    trunk_width: int = 64
    """R3D trunks: channels of the stem (64: the published trunk); the pretraining run's ``model.trunk_width``."""
    checkpoint: str | None = None
    """Pretraining checkpoint: ours (``sce pretrain``, its online trunk) or the authors'; None gives a randomly
    initialised trunk (a baseline)."""
    prefix: str = "auto"
    """Key prefix of the trunk in ``checkpoint`` (the authors' ``trunk_pattern``; ``""`` for their released files)."""
    freeze_trunk: bool = True
    """Linear evaluation: the trunk is frozen and kept in eval mode (BN uses its running statistics, SPEC 5.1)."""
    init_from: str | None = None
    """An ``sce linear-eval`` checkpoint (e.g. its ``best.ckpt``) whose trunk *and* head start this model: linear
    probing then finetuning (LP-FT, Kumar et al., ICLR 2022). Not a protocol of the papers (SPEC 5.3 starts from a
    fresh head); the demo uses it. Excludes ``checkpoint``; trunk and class count must match."""
    dropout: float = 0.0
    """Dropout before the linear layer (finetuning: 0.8, SPEC 5.3)."""
    num_classes: int | None = None
    """Classes of the head; None takes the training split's. A value that differs from the data is refused."""

    def __post_init__(self) -> None:
        check_trunk_width("model", self.trunk, self.trunk_width)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {self.dropout}")
        if self.num_classes is not None and self.num_classes < 2:
            raise ValueError(f"model.num_classes must be >= 2 or null, got {self.num_classes}")
        if self.init_from is not None and self.checkpoint is not None:
            raise ValueError(
                "model.init_from and model.checkpoint exclude each other: the trunk comes from the linear-evaluation "
                f"checkpoint {self.init_from}"
            )


LINEAR_OPTIM = OptimConfig(name="sgd", initial_lr=2.0, weight_decay=0.0, warmup_epochs=8)
"""Linear evaluation (SPEC 5.2): SGD 2.0 × batch / 256, momentum 0.9, no weight decay, 8 warmup epochs."""
LINEAR_TRAIN = TrainConfig(global_batch_size=512, max_epochs=60)
"""Linear evaluation (SPEC 5.2): batch 512, 60 epochs."""
FINETUNE_OPTIM = OptimConfig(name="sgd", initial_lr=0.1, weight_decay=0.0, warmup_epochs=0)
"""Finetuning (SPEC 5.3): SGD 0.1 × batch / 256, momentum 0.9, no weight decay, no warmup."""
FINETUNE_TRAIN = TrainConfig(global_batch_size=64, max_epochs=200)
"""Finetuning (SPEC 5.3): batch 64, 200 epochs."""


@dataclass
class ClassifyConfig:
    """Everything ``sce linear-eval`` / ``sce finetune`` need; recipes are YAML files of this shape."""

    protocol: Protocol = "linear"
    """``linear`` (``sce linear-eval``) or ``finetune`` (``sce finetune``)."""
    data: ClassifyDataConfig = field(default_factory=ClassifyDataConfig)
    model: ClassifyModelConfig = field(default_factory=ClassifyModelConfig)
    optim: OptimConfig = field(default_factory=lambda: replace(LINEAR_OPTIM))
    train: TrainConfig = field(default_factory=lambda: replace(LINEAR_TRAIN))
    fabric: FabricConfig = field(default_factory=FabricConfig)
