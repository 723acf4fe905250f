"""The common shape of every trunk: ``forward_features`` (the map before pooling) and ``forward`` (pooled features)."""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn


class Trunk(nn.Module):
    """Base class of the trunks built by :func:`sce_backbones.build_trunk`.

    A subclass registers its layers and implements :meth:`features`. The trunk then maps a batch of videos
    ``(B, C, T, H, W)`` (``input_ndim=5``) or images ``(B, C, H, W)`` (``input_ndim=4``) to pooled ``(B, D)`` features
    by global average pooling (``AdaptiveAvgPool{3,2}d(1)`` followed by a flatten, as the authors' head does, SPEC 4.1).

    Attributes:
        num_features: D, the size of the pooled features.
        input_ndim: 5 for video trunks, 4 for image trunks.
        in_channels: number of input channels C.
        channels_last: whether parameters and inputs use the channels-last memory format
            (``torch.channels_last_3d`` for videos, ``torch.channels_last`` for images).
    """

    def __init__(self, num_features: int, input_ndim: int, in_channels: int) -> None:
        super().__init__()
        self.num_features = num_features
        self.input_ndim = input_ndim
        self.in_channels = in_channels
        self.channels_last = False

    @property
    def memory_format(self) -> torch.memory_format:
        """The memory format inputs are converted to before the first layer."""
        if not self.channels_last:
            return torch.contiguous_format
        return torch.channels_last_3d if self.input_ndim == 5 else torch.channels_last

    def set_channels_last(self, enabled: bool) -> Trunk:
        """Switch parameters and inputs to (or back from) the channels-last memory format; returns ``self``.

        The function the trunk computes is unchanged; only the speed differs.
        """
        self.channels_last = bool(enabled)
        return self.to(memory_format=self.memory_format)

    def features(self, x: Tensor) -> Tensor:
        """Compute the feature map of an already validated input; implemented by subclasses."""
        raise NotImplementedError

    def forward_features(self, x: Tensor) -> Tensor:
        """Return the feature map before pooling, ``(B, D, T', H', W')`` for videos or ``(B, D, H', W')`` for images.

        Raises:
            ValueError: if ``x`` does not have ``input_ndim`` dimensions or ``in_channels`` channels.
        """
        if x.dim() != self.input_ndim or x.shape[1] != self.in_channels:
            layout = "(B, C, T, H, W)" if self.input_ndim == 5 else "(B, C, H, W)"
            raise ValueError(
                f"{type(self).__name__} expects input of layout {layout} with C={self.in_channels}, "
                f"got shape {tuple(x.shape)}"
            )
        return self.features(x.contiguous(memory_format=self.memory_format))

    def forward(self, x: Tensor) -> Tensor:
        """Return pooled features of shape ``(B, num_features)``."""
        fmap = self.forward_features(x)
        pooled = F.adaptive_avg_pool3d(fmap, 1) if fmap.dim() == 5 else F.adaptive_avg_pool2d(fmap, 1)
        return torch.flatten(pooled, 1)
