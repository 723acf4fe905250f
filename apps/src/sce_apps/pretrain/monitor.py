"""The online k-NN monitor of pretraining: weighted k-NN top-1 of the online trunk on labelled shards.

Each process extracts the features of a contiguous slice of the videos (one centre clip each, the trunk in eval
mode), the slices are gathered in video order, and every process computes the same accuracy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from lightning_fabric import Fabric
from torch import nn

from sce_apps.distributed import gather_in_order, rank_slice
from sce_apps.features import multiview_dataset, video_features
from sce_apps.loaders import eval_loader
from sce_apps.pretrain.config import DataConfig, MonitorConfig
from sce_retrieval import knn_accuracy
from sce_video_data import VIDEO_MEAN, VIDEO_STD, Normalize, ShardVideoDataset

__all__ = ["KNNMonitor"]


@dataclass
class KNNMonitor:
    """The bank and query datasets of the monitor, opened once at the start of the run."""

    config: MonitorConfig
    bank: ShardVideoDataset
    query: ShardVideoDataset

    @classmethod
    def open(cls, config: MonitorConfig, data: DataConfig) -> KNNMonitor:
        """Open ``monitor.bank`` and ``monitor.query`` with one centre clip of ``data.frames`` frames per video."""

        def dataset(path: str) -> ShardVideoDataset:
            return multiview_dataset(
                path, frames=data.frames, clip_duration=data.clip_duration, clips=1, size=config.size, crops=1
            )

        bank, query = dataset(config.bank), dataset(config.query)
        if list(bank.class_names) != list(query.class_names):
            raise ValueError(
                f"monitor.bank ({config.bank}) and monitor.query ({config.query}) have different class lists"
            )
        return cls(config, bank, query)

    @torch.no_grad()
    def _features(self, fabric: Fabric, trunk: nn.Module, dataset: ShardVideoDataset) -> tuple[torch.Tensor, ...]:
        rows = rank_slice(len(dataset), fabric.global_rank, fabric.world_size)
        normalize = Normalize(VIDEO_MEAN, VIDEO_STD)
        features, labels = [], []
        if len(rows):
            for batch in eval_loader(dataset, rows, self.config.batch_size, self.config.num_workers):
                features.append(video_features(trunk, batch["video"].to(fabric.device), normalize).float())
                labels.append(batch["label"].to(fabric.device))
        local = torch.cat(features) if features else torch.zeros(0, 1, device=fabric.device)
        local_labels = torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long, device=fabric.device)
        widest = fabric.all_reduce(torch.tensor(local.shape[1], device=fabric.device), reduce_op="max")
        assert isinstance(widest, torch.Tensor)
        dim = int(widest)
        if local.shape[1] != dim:
            local = local.new_zeros(0, dim)
        return gather_in_order(fabric, local, len(dataset)), gather_in_order(fabric, local_labels, len(dataset))

    def __call__(self, fabric: Fabric, trunk: nn.Module) -> dict[str, float]:
        """``{"knn_top1": accuracy, "monitor_s": seconds}`` of ``trunk`` (put back in its training mode after)."""
        start = time.perf_counter()
        was_training = trunk.training
        trunk.eval()
        try:
            bank, bank_labels = self._features(fabric, trunk, self.bank)
            query, query_labels = self._features(fabric, trunk, self.query)
        finally:
            trunk.train(was_training)
        accuracy = knn_accuracy(
            query.cpu().numpy(),
            query_labels.cpu().numpy(),
            bank.cpu().numpy(),
            bank_labels.cpu().numpy(),
            k=min(self.config.k, len(self.bank)),
            temperature=self.config.temperature,
            backend="torch",
            device="cpu",
        )
        return {"knn_top1": accuracy, "monitor_s": time.perf_counter() - start}
