"""sce-backbones: video and image trunks, projector/predictor heads and the momentum encoder for SCE.

Public API:

* :func:`build_trunk` (``"r3d18"``, ``"r3d50"``, ``"r2plus1d18"``, ``"resnet18"``, ``"resnet50"``) and :class:`Trunk`;
* :func:`load_trunk_weights` for our checkpoints and the authors' (eztorch) checkpoints (:class:`WidthMismatchError`);
* :class:`Projector`, :class:`Predictor` (SPEC 2.2);
* :class:`MomentumEncoder`, :func:`ema_update`, :func:`cosine_momentum` (SPEC 2.1);
* :func:`convert_sync_batchnorm`, :class:`SyncBatchNorm` (SPEC 2.5).
"""

from sce_backbones.__about__ import __version__
from sce_backbones.build import TRUNK_BUILDERS, build_trunk, trunk_options
from sce_backbones.heads import Predictor, Projector
from sce_backbones.loading import (
    KNOWN_PREFIXES,
    LoadResult,
    WidthMismatchError,
    load_trunk_weights,
    read_state_dict,
)
from sce_backbones.momentum import MomentumEncoder, cosine_momentum, ema_update
from sce_backbones.sync_bn import SyncBatchNorm, convert_sync_batchnorm
from sce_backbones.trunk import Trunk

TRUNK_NAMES: tuple[str, ...] = tuple(TRUNK_BUILDERS)

__all__ = [
    "KNOWN_PREFIXES",
    "TRUNK_NAMES",
    "LoadResult",
    "MomentumEncoder",
    "Predictor",
    "Projector",
    "SyncBatchNorm",
    "Trunk",
    "WidthMismatchError",
    "__version__",
    "build_trunk",
    "convert_sync_batchnorm",
    "cosine_momentum",
    "ema_update",
    "load_trunk_weights",
    "read_state_dict",
    "trunk_options",
]
