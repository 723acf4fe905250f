"""sce-losses: the Similarity Contrastive Estimation loss, its queue, MoCo/ReSSL special cases and gathering."""

from sce_losses.__about__ import __version__
from sce_losses.distributed import gather, is_distributed, rank, world_size
from sce_losses.input_checks import NonFiniteInputError
from sce_losses.moco import moco_loss
from sce_losses.ressl import ressl_loss
from sce_losses.sce import sce_loss
from sce_losses.sce_module import SCELoss

__all__ = [
    "NonFiniteInputError",
    "SCELoss",
    "__version__",
    "gather",
    "is_distributed",
    "moco_loss",
    "rank",
    "ressl_loss",
    "sce_loss",
    "world_size",
]
