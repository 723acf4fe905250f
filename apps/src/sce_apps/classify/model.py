"""The classifier of the evaluation protocols: a trunk (frozen for linear evaluation) and a linear head."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from sce_apps.classify.config import ClassifyModelConfig
from sce_apps.engine.checkpoints import load_checkpoint
from sce_apps.trunks import PUBLISHED_WIDTH, build_program_trunk, width_mismatch_message
from sce_backbones import WidthMismatchError, convert_sync_batchnorm, load_trunk_weights

#: The format of the classifier checkpoints of ``sce linear-eval`` and ``sce finetune``.
CLASSIFIER_PROGRAMS = ("linear", "finetune")
"""Programs whose checkpoints hold a classifier (``model``: trunk and head)."""


class LinearHead(nn.Module):
    """Dropout then ``Linear(in, classes)`` with weights N(0, 0.01) and zero bias (SPEC 5.1-5.3).

    The trunk already pools globally (SPEC 4.1), so the authors' ``adaptive_avg_pool`` head reduces to this.
    """

    def __init__(self, in_features: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.linear = nn.Linear(in_features, num_classes)
        nn.init.normal_(self.linear.weight, mean=0.0, std=0.01)
        nn.init.zeros_(self.linear.bias)

    @property
    def num_classes(self) -> int:
        """Number of classes predicted."""
        return self.linear.out_features

    def forward(self, features: Tensor) -> Tensor:
        """Logits ``(B, classes)`` of pooled features ``(B, D)``."""
        return self.linear(self.dropout(features))


class Classifier(nn.Module):
    """Trunk → linear head. With ``freeze_trunk`` the trunk never trains and always runs in eval mode.

    Linear evaluation (SPEC 5.1, 5.2): the trunk's parameters do not require gradients, its forward runs under
    ``torch.no_grad`` and :meth:`train` leaves it in eval mode, so BN uses its running statistics. Finetuning (SPEC
    5.3): the whole network trains.
    """

    def __init__(self, trunk: nn.Module, head: LinearHead, *, freeze_trunk: bool) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = head
        self.freeze_trunk = freeze_trunk
        if freeze_trunk:
            self.trunk.requires_grad_(False)
            self.trunk.eval()

    def train(self, mode: bool = True) -> Classifier:
        """Set the training mode; a frozen trunk stays in eval mode."""
        super().train(mode)
        if self.freeze_trunk:
            self.trunk.eval()
        return self

    def forward(self, x: Tensor) -> Tensor:
        """Logits of normalised float inputs ``(B, C, [T,] H, W)``."""
        if self.freeze_trunk:
            with torch.no_grad():
                features = self.trunk(x)
        else:
            features = self.trunk(x)
        return self.head(features)


def build_classifier(model: ClassifyModelConfig, num_classes: int, *, sync_batchnorm: bool = False) -> Classifier:
    """The classifier of ``model`` with the pretrained trunk of ``model.checkpoint`` (random init without one).

    With ``model.init_from``, trunk and head both start from that linear-evaluation checkpoint instead.

    Raises:
        FileNotFoundError: ``model.checkpoint`` or ``model.init_from`` does not exist.
        ValueError: the checkpoint does not hold a trunk of ``model.trunk`` (missing / unexpected keys are listed), or
            ``model.init_from`` is not a classifier checkpoint of this trunk and class count.
    """
    trunk = build_program_trunk(model.trunk, small_input=model.small_input, width=model.trunk_width)
    if model.checkpoint is not None:
        if not Path(model.checkpoint).is_file():
            raise FileNotFoundError(f"model.checkpoint not found: {model.checkpoint}")
        try:
            load_trunk_weights(trunk, model.checkpoint, prefix=model.prefix)
        except WidthMismatchError as error:
            raise ValueError(width_mismatch_message("model", model.checkpoint, model.trunk, error)) from error
        except ValueError as error:
            raise ValueError(
                f"model.checkpoint {model.checkpoint} does not hold a {model.trunk} trunk "
                f"(model.prefix={model.prefix!r}): {error}"
            ) from error
    head = LinearHead(trunk.num_features, num_classes, model.dropout)
    if model.init_from is not None:
        _init_from_linear_eval(trunk, head, model)
    if sync_batchnorm and not model.freeze_trunk:
        trunk = convert_sync_batchnorm(trunk)  # type: ignore[assignment]
    return Classifier(trunk, head, freeze_trunk=model.freeze_trunk)


def _init_from_linear_eval(trunk: nn.Module, head: LinearHead, model: ClassifyModelConfig) -> None:
    """Trunk and head weights from the classifier checkpoint ``model.init_from`` (LP-FT).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a classifier checkpoint, or one of another trunk or class count.
    """
    path = Path(str(model.init_from))
    payload = load_checkpoint(path, CLASSIFIER_PROGRAMS)
    saved = payload["settings"]["model"]
    if saved.get("trunk") != model.trunk:
        raise ValueError(f"model.init_from {path} holds a {saved.get('trunk')} trunk, not model.trunk={model.trunk}")
    saved_width = saved.get("trunk_width", PUBLISHED_WIDTH)
    if saved_width != model.trunk_width:
        raise ValueError(
            f"model.init_from {path} holds a {model.trunk} trunk of width {saved_width}; set "
            f"model.trunk_width={saved_width} (now {model.trunk_width})"
        )
    state = payload["model"]
    weight = state.get("head.linear.weight")
    if weight is None or tuple(weight.shape) != tuple(head.linear.weight.shape):
        found = None if weight is None else f"{weight.shape[0]} classes x {weight.shape[1]} features"
        raise ValueError(
            f"model.init_from {path}: its head ({found}) does not fit this one "
            f"({head.num_classes} classes x {head.linear.in_features} features)"
        )
    trunk.load_state_dict({k.removeprefix("trunk."): v for k, v in state.items() if k.startswith("trunk.")})
    head.load_state_dict({k.removeprefix("head."): v for k, v in state.items() if k.startswith("head.")})
