"""Sizing torch's CPU threads from the CPUs a process is really granted.

torch starts as many intra-op threads as the machine has cores, whatever the process may use: under a CPU
affinity mask or a cgroup quota (containers, SLURM), beside loader workers, or with several training processes on
one node, the threads then outnumber the CPUs and wait on each other at every parallel region. The programs set
the thread count once at start-up from:

* the CPUs the process may run on (``os.sched_getaffinity``),
* the cgroup CPU quota, if any (cgroup v2 ``cpu.max``, or v1 ``cpu.cfs_quota_us / cpu.cfs_period_us``),
* shared among the training processes of the node (``LOCAL_WORLD_SIZE`` or the launcher's process count), and
* less one CPU per loader worker, which decodes on its own CPU,

and never fewer than one; ``fabric.cpu_threads`` overrides it.

A machine shared with other work (another job on a workstation, a CI runner) grants CPUs that others also use.
:class:`AdaptiveThreads` therefore measures, at start-up and then every few seconds between steps, how much of the
granted CPUs processes outside this run use (``/proc/stat`` less this process and its loader workers), infers how
many CPU-bound threads that is, and leaves them their CPUs while some are free, raising the count back when the
others stop: a thread that shares its CPU with another process makes every step wait for it. When the others keep
every CPU busy, the run takes as many threads as make all runnable threads share the CPUs evenly
(:meth:`AdaptiveThreads.target`).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import torch

__all__ = ["AdaptiveThreads", "available_cpus", "cgroup_cpu_limit", "cpu_threads", "local_processes"]


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPU quota of this process's cgroup in CPUs (e.g. 2.5), or None when unlimited or unknown."""
    v2 = root / "cpu.max"
    try:
        if v2.is_file():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        v1_quota, v1_period = root / "cpu" / "cpu.cfs_quota_us", root / "cpu" / "cpu.cfs_period_us"
        if v1_quota.is_file() and v1_period.is_file():
            quota_us = int(v1_quota.read_text())
            return None if quota_us <= 0 else quota_us / int(v1_period.read_text())
    except (OSError, ValueError):
        return None
    return None


def available_cpus(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """CPUs this process may use: its affinity mask, capped by the cgroup quota (rounded up), at least 1."""
    try:
        granted = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        granted = os.cpu_count() or 1
    limit = cgroup_cpu_limit(cgroup_root)
    if limit is not None:
        granted = min(granted, max(1, math.ceil(limit)))
    return max(1, granted)


def local_processes(default: int = 1) -> int:
    """Training processes on this node, from the launcher's environment (torchrun, ``fabric run``, SLURM)."""
    for name in ("LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE"):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return default


def cpu_threads(processes: int, loader_workers: int, override: int | None = None, cpus: int | None = None) -> int:
    """Intra-op threads for one of ``processes`` training processes of the node, each with ``loader_workers``.

    Args:
        processes: training processes sharing the node's granted CPUs.
        loader_workers: loader worker processes of each training process (each takes one CPU).
        override: ``fabric.cpu_threads``: returned as is when set.
        cpus: the CPUs granted (:func:`available_cpus` when None).

    Returns:
        ``max(1, cpus // processes - loader_workers)``, or ``override``.
    """
    if override is not None:
        return override
    cpus = available_cpus() if cpus is None else cpus
    return max(1, cpus // max(1, processes) - loader_workers)


def _granted_cpu_ids() -> set[int] | None:
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:
        return None


def _busy_ticks(cpus: set[int] | None) -> int | None:
    """Busy clock ticks of ``cpus`` (all when None) since boot, from ``/proc/stat``; None off Linux."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    busy = 0
    for line in lines:
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu":
            continue
        if cpus is not None and int(name[3:]) not in cpus:
            continue
        values = [int(v) for v in fields[:8]]
        busy += sum(values) - values[3] - values[4]  # less idle and iowait
    return busy


def _process_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime


def _own_ticks() -> int:
    """CPU ticks used by this process and its child processes (loader workers) that are alive."""
    me = os.getpid()
    total = _process_ticks(me)
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                parent = int(Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == me:
                total += _process_ticks(int(entry.name))
    return total


class AdaptiveThreads:
    """torch's intra-op thread count, sized at start and kept to the CPUs that other work leaves free.

    Args:
        processes: training processes of the node.
        loader_workers: loader workers of each.
        override: ``fabric.cpu_threads``: a fixed count (nothing is measured).
        interval_s: seconds between two measurements (:meth:`update` is cheap in between).
        window_s: length of the first measurement, at start-up.
    """

    def __init__(
        self,
        processes: int,
        loader_workers: int,
        override: int | None = None,
        interval_s: float = 10.0,
        window_s: float = 0.25,
    ) -> None:
        self.processes = max(1, processes)
        self.loader_workers = loader_workers
        self.override = override
        self.interval_s = interval_s
        self.granted = available_cpus()
        self.base = cpu_threads(self.processes, loader_workers, override, cpus=self.granted)
        self._cpus = _granted_cpu_ids()
        self._tick_rate = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.current = self.base
        torch.set_num_threads(self.base)
        self._sample = self._measure_point()
        if override is None and self._sample is not None and window_s > 0:
            time.sleep(window_s)
            self._apply()

    def _measure_point(self) -> tuple[float, int, int] | None:
        busy = _busy_ticks(self._cpus)
        return None if busy is None else (time.monotonic(), busy, _own_ticks())

    def usage(self) -> tuple[float, float] | None:
        """``(others, own)``: CPUs (of those granted) used outside this run and by it since the last measurement."""
        now = self._measure_point()
        if now is None or self._sample is None:
            return None
        (t0, busy0, own0), (t1, busy1, own1) = self._sample, now
        self._sample = now
        elapsed = (t1 - t0) * self._tick_rate
        if elapsed <= 0:
            return None
        own = max(0.0, (own1 - own0) / elapsed)
        return max(0.0, (busy1 - busy0) / elapsed - own), own

    def busy_others(self, others: float, own: float) -> float:
        """How many CPU-bound threads outside the run the measured usage means.

        Runnable threads share the CPUs evenly, so the others' usage over the run's is the ratio of their thread
        counts: ``others / own × current threads``. When the run itself was idle, the others got what they wanted.
        """
        if own < 0.05:
            return others
        return others / own * self.current

    def target(self, others: float, own: float) -> int:
        """Threads for this process when processes outside the run use ``others`` CPUs and the run ``own``.

        With ``k`` CPU-bound threads outside the run on ``n`` CPUs (those granted less one per loader worker), the
        run's processes together take ``n - (k mod n)`` threads: all that is free while ``k < n`` (beside one busy
        process on 2 CPUs, 1 thread), and otherwise as many as make the runnable threads a multiple of ``n``, so that
        every thread gets the same share and no step waits for a thread that shares its CPU with more processes than
        the others (beside two busy processes on 2 CPUs, 2 threads; beside three, 1). Measured on 2 CPUs: beside one
        busy process 1 thread runs a step 2.2x faster than 2; beside two, 2 threads run it 1.2x faster than 1. The
        node's other training processes count among the others; each is assumed to use its share.
        """
        siblings = (self.processes - 1) * (self.base + self.loader_workers)
        external = round(max(0.0, self.busy_others(others, own) - siblings))
        cpus = self.granted - self.processes * self.loader_workers
        if cpus < 1:
            return 1
        placed = cpus - external % cpus
        return min(self.base, max(1, placed // self.processes))

    def _apply(self) -> None:
        measured = self.usage()
        if measured is None:
            return
        wanted = self.target(*measured)
        if wanted != self.current:
            torch.set_num_threads(wanted)
            self.current = wanted

    def update(self) -> int:
        """Re-measure when ``interval_s`` has passed since the last measurement; return the thread count."""
        due = self._sample is not None and time.monotonic() - self._sample[0] >= self.interval_s
        if self.override is None and due:
            self._apply()
        return self.current
