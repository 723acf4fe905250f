"""Multi-view testing (SPEC 5.2): the softmax of every view of a video, averaged, then top-1 / top-5.

Each process evaluates a contiguous slice of the videos; the averaged probabilities are gathered in video order, so
every process ends with the same metrics as a single process would compute.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from lightning_fabric import Fabric
from torch import Tensor, nn
from torch.utils.data import Dataset
from tqdm import tqdm

from sce_apps.distributed import gather_in_order, rank_slice
from sce_apps.loaders import eval_loader
from sce_video_data import Normalize, to_float_batch


@dataclass(frozen=True)
class Accuracy:
    """Metrics of one evaluation (fractions, not percents).

    Attributes:
        top1: share of videos whose averaged prediction's best class is the label.
        top5: share whose label is among the 5 best classes (all classes when there are fewer).
        loss: mean negative log of the averaged probability of the label (the averaged probabilities are used as
            probabilities; the authors' code fed them to ``cross_entropy`` as logits, SPEC 8.2).
        count: number of videos.
    """

    top1: float
    top5: float
    loss: float
    count: int

    def as_dict(self) -> dict[str, float | int]:
        """``{"top1", "top5", "loss", "count"}``."""
        return {"top1": self.top1, "top5": self.top5, "loss": self.loss, "count": self.count}


def view_batch(inputs: Tensor) -> tuple[Tensor, int]:
    """Flatten the views of a test batch: uint8 ``(B, clips, crops, T, H, W, 3)`` or images ``(B, H, W, 3)``.

    Returns:
        The views ``(B·V, T, H, W, 3)`` / ``(B, H, W, 3)`` and V, the views per sample.
    """
    if inputs.dim() == 7:
        views = inputs.shape[1] * inputs.shape[2]
        return inputs.reshape(inputs.shape[0] * views, *inputs.shape[3:]), views
    return inputs, 1


@torch.no_grad()
def multiview_probabilities(model: nn.Module, inputs: Tensor, normalize: Normalize) -> Tensor:
    """Softmax of every view, averaged per sample: uint8 test batch (see :func:`view_batch`) → ``(B, classes)``."""
    views, per_sample = view_batch(inputs)
    logits = model(normalize(to_float_batch(views)))
    probabilities = F.softmax(logits.float(), dim=-1)
    return probabilities.reshape(inputs.shape[0], per_sample, -1).mean(dim=1)


def accuracy(probabilities: Tensor, labels: Tensor) -> Accuracy:
    """Top-1 / top-5 / loss of averaged ``probabilities`` ``(N, classes)`` against ``labels`` ``(N,)``."""
    if len(labels) == 0:
        raise ValueError("no sample to evaluate")
    k = min(5, probabilities.shape[1])
    best = probabilities.topk(k, dim=1).indices
    hits = best == labels[:, None]
    chosen = probabilities.gather(1, labels[:, None]).squeeze(1)
    loss = -chosen.clamp_min(1e-12).log().mean()
    count = len(labels)
    return Accuracy(int(hits[:, 0].sum()) / count, int(hits.any(dim=1).sum()) / count, float(loss), count)


@torch.no_grad()
def predict(
    fabric: Fabric,
    model: nn.Module,
    dataset: Dataset,
    normalize: Normalize,
    *,
    batch_size: int,
    num_workers: int,
    desc: str = "test",
) -> tuple[Tensor, Tensor]:
    """Averaged probabilities and labels of every sample of ``dataset``, in order, on every process.

    ``model`` runs in eval mode (its previous mode is restored) under ``fabric.autocast()``.
    """
    count = len(dataset)  # type: ignore[arg-type]
    rows = rank_slice(count, fabric.global_rank, fabric.world_size)
    was_training = model.training
    model.eval()
    probabilities, labels = [], []
    if len(rows):
        loader = eval_loader(dataset, rows, batch_size, num_workers)
        quiet = fabric.global_rank != 0
        for batch in tqdm(loader, total=len(loader), desc=desc, unit="batch", disable=quiet, leave=False):
            inputs = batch["video"] if "video" in batch else batch["image"]
            with fabric.autocast():
                probabilities.append(multiview_probabilities(model, inputs.to(fabric.device), normalize).float())
            labels.append(batch["label"].to(fabric.device))
    model.train(was_training)
    # a process with no sample still takes part in the all-gather, with rows of the right width
    local_p = torch.cat(probabilities) if probabilities else torch.zeros(0, _num_classes(model), device=fabric.device)
    local_l = torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long, device=fabric.device)
    return gather_in_order(fabric, local_p, count).cpu(), gather_in_order(fabric, local_l, count).cpu()


def _num_classes(model: nn.Module) -> int:
    head = getattr(model, "head", None)
    if head is None:
        raise ValueError("cannot infer the number of classes of a model without a `head`")
    return int(head.num_classes)


def evaluate(
    fabric: Fabric,
    model: nn.Module,
    dataset: Dataset,
    normalize: Normalize,
    *,
    batch_size: int,
    num_workers: int,
    desc: str = "test",
) -> Accuracy:
    """Multi-view accuracy of ``model`` on ``dataset`` (the same on every process)."""
    probabilities, labels = predict(
        fabric, model, dataset, normalize, batch_size=batch_size, num_workers=num_workers, desc=desc
    )
    return accuracy(probabilities, labels)
