"""Loggers, the resolved settings of a run (``config.yaml``), and the PNG of training curves written at its end."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from lightning_fabric.loggers import CSVLogger, Logger, TensorBoardLogger

from sce_apps.atomic import atomic_output, atomic_write_text


def make_loggers(out_dir: Path) -> list[Logger]:
    """CSV and TensorBoard loggers under ``<out_dir>/logs``; each (re)start writes a new ``version_N`` folder."""
    return [CSVLogger(out_dir / "logs", name="csv"), TensorBoardLogger(out_dir / "logs", name="tensorboard")]


def read_metrics(out_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every metric logged by the CSV logger over all versions of the run; later versions win on repeated steps."""
    by_step: dict[str, dict[int, float]] = {}
    versions = sorted((out_dir / "logs" / "csv").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name[8:]))
    for path in versions:
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                step = int(float(row.get("step") or 0))
                for name, value in row.items():
                    if name != "step" and value not in ("", None):
                        by_step.setdefault(name, {})[step] = float(value)
    return {name: sorted(values.items()) for name, values in by_step.items()}


def plot_curves(out_dir: Path, names: tuple[str, ...] = ("loss", "lr", "momentum")) -> Path | None:
    """Write ``<out_dir>/plots/training_curves.png`` (one panel per metric); None when nothing was logged."""
    metrics = {n: v for n, v in read_metrics(out_dir).items() if n in names and v}
    if not metrics:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.2), squeeze=False)
    for ax, (name, points) in zip(axes[0], metrics.items(), strict=True):
        steps, values = zip(*points, strict=True)
        ax.plot(steps, values, linewidth=1.2)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if name == "loss" and all(v > 0 and math.isfinite(v) for v in values):
            ax.set_yscale("log")
    fig.tight_layout()
    target = out_dir / "plots" / "training_curves.png"
    try:
        with atomic_output(target, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=110)
    finally:
        plt.close(fig)
    return target


def write_config(out_dir: Path, settings: dict[str, Any]) -> Path:
    """Write the resolved ``settings`` of a run to ``<out_dir>/config.yaml`` (temporary name, then rename)."""
    import yaml

    return atomic_write_text(out_dir / "config.yaml", yaml.safe_dump(_plain(settings), sort_keys=False))


def _plain(value: Any) -> Any:
    """``value`` with tuples as lists and infinities as strings, so that ``yaml.safe_dump`` takes it."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and math.isinf(value):
        return str(value)
    return value
