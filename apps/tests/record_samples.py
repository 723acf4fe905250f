"""Test helper: run ``sce pretrain`` with every batch request of the training sampler recorded.

Each process appends ``{"epoch", "positions", "indices"}`` per request it yields to
``$SCE_TEST_SAMPLES/rank<R>.jsonl``; started with ``fabric run ... record_samples.py ARGS`` or in-process through
:func:`recording`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from sce_video_data.loading.batch_sampler import BatchRequest, ResumableBatchSampler

_ORIGINAL = ResumableBatchSampler.__iter__


def _recording_iter(self: ResumableBatchSampler) -> Iterator[BatchRequest]:
    target = Path(os.environ["SCE_TEST_SAMPLES"]) / f"rank{self.rank}.jsonl"
    for request in _ORIGINAL(self):
        with open(target, "a") as handle:
            row = {"epoch": request.epoch, "positions": list(request.positions), "indices": list(request.indices)}
            handle.write(json.dumps(row) + "\n")
        yield request


@contextlib.contextmanager
def recording(folder: Path) -> Iterator[None]:
    """Record the requests of the samplers iterated inside the block into ``folder``."""
    os.environ["SCE_TEST_SAMPLES"] = str(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ResumableBatchSampler.__iter__ = _recording_iter  # type: ignore[method-assign]
    try:
        yield
    finally:
        ResumableBatchSampler.__iter__ = _ORIGINAL  # type: ignore[method-assign]


def seen(folder: Path) -> dict[tuple[int, int], int]:
    """``{(epoch, position in the epoch's order): dataset row}`` over every rank's record in ``folder``."""
    rows: dict[tuple[int, int], int] = {}
    for path in sorted(folder.glob("rank*.jsonl")):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            for position, index in zip(record["positions"], record["indices"], strict=True):
                key = (record["epoch"], position)
                assert key not in rows, f"{key} read twice"
                rows[key] = index
    return rows


if __name__ == "__main__":
    if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
        del sys.path[0]  # (as the program entries do) nothing of this folder shadows a module
    from sce_apps.cli import program_main

    ResumableBatchSampler.__iter__ = _recording_iter  # type: ignore[method-assign]
    program_main("pretrain", prog="pretrain.py")
