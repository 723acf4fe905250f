"""Workspace-wide pytest settings: the timeout of the slow end-to-end tests scales with the machine's speed.

``pytest.ini`` deselects tests marked ``slow`` by default; ``.ci/run`` runs them as their own step
(``hatch run test -m slow``). Each gets ``SLOW_TIMEOUT_S`` times the slowdown of this machine, measured when the
tests are collected by timing a fixed small 3-D convolution workload against its time on an idle 2-core machine, so a
busy or slow machine gets proportionally longer (never less than the base).
"""

from __future__ import annotations

import statistics
import time

import pytest

SLOW_TIMEOUT_S = 600.0
"""Timeout of a slow test on an idle 2-core machine."""
REFERENCE_WORKLOAD_S = 0.018
"""Median time of :func:`_workload` measured on an idle 2-core dev machine."""


def _workload() -> float:
    import torch

    x = torch.randn(2, 3, 8, 112, 112, generator=torch.Generator().manual_seed(0))
    weight = torch.randn(32, 3, 3, 3, 3, generator=torch.Generator().manual_seed(1))
    start = time.perf_counter()
    torch.nn.functional.conv3d(x, weight, padding=1).sum().item()
    return time.perf_counter() - start


def machine_slowdown(repeats: int = 7) -> float:
    """How many times slower than the reference machine this one runs the workload now (at least 1)."""
    _workload()
    return max(1.0, statistics.median(_workload() for _ in range(repeats)) / REFERENCE_WORKLOAD_S)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every selected ``slow`` test a timeout scaled by :func:`machine_slowdown`."""
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if not slow:
        return
    timeout = SLOW_TIMEOUT_S * machine_slowdown()
    for item in slow:
        item.add_marker(pytest.mark.timeout(timeout))
