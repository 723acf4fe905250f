"""`SCELoss`: the SCE loss with its FIFO queue of momentum keys (SPEC 2.3)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sce_losses.distributed import gather, rank
from sce_losses.input_checks import check_matrix
from sce_losses.sce import sce_loss


class SCELoss(nn.Module):
    """SCE loss module holding the queue of negatives (SPEC 1.2, 2.3).

    The queue is a ``(queue_size, dim)`` buffer, one key per row, initialised with random unit rows, and its write
    pointer ``queue_ptr``; both are buffers, so they are saved in checkpoints. ``forward`` uses a snapshot of the
    queue taken at the first call after the last ``enqueue`` (the snapshot of SPEC 2.3, shared by every loss term of a
    step), so calling ``enqueue`` before ``backward`` is safe. ``enqueue`` gathers the keys from all processes (when
    distributed and ``gather_distributed``) and writes them FIFO, wrapping around; every process therefore holds an
    identical queue.

    Keep this module out of a DDP-wrapped model (or use ``broadcast_buffers=False``): DDP would otherwise broadcast the
    whole queue from rank 0 at every forward (SPEC 6.3 item 4).

    Args:
        dim: D, the dimension of the keys.
        queue_size: K, the number of keys in the queue; 0 disables the queue.
        coeff: λ.
        temp: τ.
        temp_m: τm.
        use_keys: use the keys of the whole global batch as extra negatives (``all_keys`` of :func:`sce_loss`).
        gather_distributed: gather keys across processes for the queue and for ``use_keys``. Without an initialised
            process group (or with one process) gathering is the identity.

    Examples:
        >>> import torch
        >>> import torch.nn.functional as F
        >>> from sce_losses import SCELoss
        >>> criterion = SCELoss(dim=128, queue_size=1024, coeff=0.5, temp=0.1, temp_m=0.07)
        >>> q = F.normalize(torch.randn(8, 128, requires_grad=True), dim=1)
        >>> k = F.normalize(torch.randn(8, 128), dim=1)
        >>> loss = criterion(q, k)
        >>> criterion.enqueue(k)
        >>> int(criterion.queue_ptr)
        8
    """

    queue: Tensor
    queue_ptr: Tensor

    def __init__(
        self,
        dim: int,
        queue_size: int,
        *,
        coeff: float = 0.5,
        temp: float = 0.1,
        temp_m: float = 0.07,
        use_keys: bool = False,
        gather_distributed: bool = True,
    ) -> None:
        super().__init__()
        if dim <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        if queue_size < 0:
            raise ValueError(f"queue_size must be >= 0, got {queue_size}")
        if temp <= 0 or temp_m <= 0:
            raise ValueError(f"temperatures must be positive, got temp={temp}, temp_m={temp_m}")
        self.dim = dim
        self.queue_size = queue_size
        self.coeff = coeff
        self.temp = temp
        self.temp_m = temp_m
        self.use_keys = use_keys
        self.gather_distributed = gather_distributed
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, dim), dim=1))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))
        self._snapshot: Tensor | None = None
        self._snapshot_of: tuple[int, int] | None = None

    def extra_repr(self) -> str:
        """The hyper-parameters, shown by ``print(module)``."""
        return (
            f"dim={self.dim}, queue_size={self.queue_size}, coeff={self.coeff}, temp={self.temp}, "
            f"temp_m={self.temp_m}, use_keys={self.use_keys}, gather_distributed={self.gather_distributed}"
        )

    def queue_snapshot(self) -> Tensor | None:
        """The detached copy of the queue used by every ``forward`` until the next ``enqueue`` (None when K = 0)."""
        if self.queue_size == 0:
            return None
        current = (self.queue.data_ptr(), self.queue._version)
        if self._snapshot is None or self._snapshot_of != current:
            self._snapshot = self.queue.detach().clone()
            self._snapshot_of = current
        return self._snapshot

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        """SCE loss of L2-normalised (B, D) queries against the keys of the other view and the queue snapshot."""
        all_keys = self._gather(key.detach()) if self.use_keys else None
        return sce_loss(
            query,
            key,
            self.queue_snapshot(),
            coeff=self.coeff,
            temp=self.temp,
            temp_m=self.temp_m,
            all_keys=all_keys,
            rank=rank() if self.use_keys and self.gather_distributed else 0,
        )

    @torch.no_grad()
    def enqueue(self, keys: Tensor) -> None:
        """Write ``keys`` (n, D), gathered over processes, into the queue FIFO (SPEC 2.3).

        Raises:
            ValueError: when the gathered number of keys does not divide the queue size, or the dimension differs.
        """
        if self.queue_size == 0:
            return
        check_matrix("keys", keys)
        if keys.shape[1] != self.dim:
            raise ValueError(f"keys must have dimension {self.dim} like the queue, got keys {tuple(keys.shape)}")
        gathered = self._gather(keys.detach())
        count = gathered.shape[0]
        if self.queue_size % count != 0:
            raise ValueError(
                f"the queue size {self.queue_size} must be a multiple of the number of keys enqueued per step "
                f"({count} = {keys.shape[0]} per process × {count // keys.shape[0]} processes); "
                "choose a batch size that divides the queue size"
            )
        ptr = int(self.queue_ptr)
        self.queue[ptr : ptr + count] = gathered.to(self.queue.dtype)
        self.queue_ptr.fill_((ptr + count) % self.queue_size)

    def _gather(self, tensor: Tensor) -> Tensor:
        return gather(tensor) if self.gather_distributed else tensor
