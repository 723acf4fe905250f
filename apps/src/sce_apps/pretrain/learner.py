"""The SCE learner: online and momentum networks and the loss with its queue (SPEC 2.1-2.4)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sce_apps.pretrain.config import ModelConfig, SCEConfig
from sce_apps.trunks import build_program_trunk
from sce_backbones import MomentumEncoder, Predictor, Projector, convert_sync_batchnorm
from sce_losses import SCELoss


class OnlineNetwork(nn.Module):
    """Trunk → projector → predictor. One forward takes every crop of a step (one DDP forward per step)."""

    def __init__(self, trunk: nn.Module, projector: nn.Module, predictor: nn.Module) -> None:
        super().__init__()
        self.trunk = trunk
        self.projector = projector
        self.predictor = predictor

    def forward(self, crops: list[Tensor]) -> list[Tensor]:
        """L2-normalised predictions ``q = p(g(f(x)))`` of each crop, each crop with its own BN statistics."""
        return [F.normalize(self.predictor(self.projector(self.trunk(x))), dim=1) for x in crops]


class KeyNetwork(nn.Module):
    """Trunk → projector: the architecture of the momentum branch (no predictor)."""

    def __init__(self, trunk: nn.Module, projector: nn.Module) -> None:
        super().__init__()
        self.trunk = trunk
        self.projector = projector

    def forward(self, x: Tensor) -> Tensor:
        """L2-normalised keys ``k = g(f(x))``."""
        return F.normalize(self.projector(self.trunk(x)), dim=1)


def build_online(model: ModelConfig) -> OnlineNetwork:
    """A freshly initialised online network of ``model``."""
    trunk = build_program_trunk(model.trunk, small_input=model.small_input, width=model.trunk_width)
    projector = Projector(trunk.num_features, model.projector_hidden_dims, model.projector_out_dim)
    predictor = Predictor(model.projector_out_dim, model.predictor_hidden_dim, model.projector_out_dim)
    return OnlineNetwork(trunk, projector, predictor)


class SCELearner(nn.Module):
    """Online network, its momentum copy (trunk + projector, EMA of parameters) and the SCE loss with its queue.

    Args:
        model: trunk and head sizes.
        sce: loss, queue and momentum settings.
        sync_batchnorm: convert every BN (both branches) to a synchronised BN (SPEC 2.5).
    """

    def __init__(self, model: ModelConfig, sce: SCEConfig, *, sync_batchnorm: bool = False) -> None:
        super().__init__()
        online = build_online(model)
        if sync_batchnorm:
            online = convert_sync_batchnorm(online)  # type: ignore[assignment]
        self.online = online
        self.momentum = MomentumEncoder(KeyNetwork(online.trunk, online.projector))
        self.criterion = SCELoss(
            model.projector_out_dim,
            sce.queue_size,
            coeff=sce.coeff,
            temp=sce.temp,
            temp_m=sce.temp_m,
            use_keys=sce.use_keys,
        )

    def loss(self, online: nn.Module, crops: list[Tensor], num_global: int = 2) -> tuple[Tensor, list[Tensor]]:
        """The symmetric SCE loss of one step (SPEC 2.4) and the keys to enqueue.

        Every global crop goes through the momentum branch; every crop through the online branch; the loss averages
        ``L(q_j, k_i)`` over global crops ``i`` and crops ``j ≠ i``. For two crops this is ``½[L(q¹,k⁰) + L(q⁰,k¹)]``.

        Args:
            online: the online network as set up for training (possibly wrapped by DDP); ``self.online`` otherwise.
            crops: the augmented crops, global crops first, each (B, C, [T,] H, W).
            num_global: G, the number of global crops.

        Returns:
            The loss and the keys of each global crop (enqueue them after the step, view by view).
        """
        if len(crops) < 2 or not 1 <= num_global <= len(crops):
            raise ValueError(f"expected >= 2 crops with 1 <= num_global <= crops, got {len(crops)} and {num_global}")
        keys = [self.momentum(x) for x in crops[:num_global]]
        queries = online(crops)
        terms = [self.criterion(queries[j], keys[i]) for i in range(num_global) for j in range(len(crops)) if j != i]
        return torch.stack(terms).sum() / len(terms), keys

    @torch.no_grad()
    def after_step(self, keys: list[Tensor], momentum: float) -> None:
        """EMA of the momentum branch with ``momentum`` (SPEC 2.1), then enqueue the keys of each view (SPEC 2.3)."""
        self.momentum.update(KeyNetwork(self.online.trunk, self.online.projector), momentum)
        for k in keys:
            self.criterion.enqueue(k)
