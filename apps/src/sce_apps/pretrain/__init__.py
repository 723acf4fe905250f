"""SCE pretraining: configs, learner, data, and the Fabric program."""

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
from sce_apps.pretrain.learner import SCELearner
from sce_apps.pretrain.program import NonFiniteLossError, setup

__all__ = [
    "DataConfig",
    "FabricConfig",
    "ModelConfig",
    "MonitorConfig",
    "NonFiniteLossError",
    "OptimConfig",
    "PretrainConfig",
    "SCEConfig",
    "SCELearner",
    "TrainConfig",
    "setup",
]
