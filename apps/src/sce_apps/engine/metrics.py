"""A run's metrics that survive crashes (``metrics.jsonl``, ``metrics.csv``) and its PNG of training curves.

Every logged row is appended to ``<out_dir>/metrics.jsonl`` and flushed at once, and the file is fsynced at every
checkpoint, so a ``kill -9`` loses at most the rows of the last moments, never those before the last checkpoint.
A resumed run first drops the rows after the step it resumes from (they are computed again), so the file holds one
continuous history with every step once. ``metrics.csv`` (one column per metric, one row per step) is rebuilt from
it atomically at every checkpoint and at the end. A torn last line (a crash in mid-write) is ignored.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any

from sce_apps.engine.atomic import atomic_output, atomic_write_text

__all__ = ["MetricsLog", "plot_curves", "read_json_lines", "read_metric_rows", "read_metrics"]

JSONL = "metrics.jsonl"
CSV = "metrics.csv"


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a ``.jsonl`` file, in order; lines that do not parse (torn) are skipped."""
    if not path.is_file():
        return []
    found = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            found.append(row)
    return found


def read_metric_rows(out_dir: Path) -> list[dict[str, Any]]:
    """The rows of ``<out_dir>/metrics.jsonl`` in the order logged (header lines and torn lines skipped)."""
    return [row for row in read_json_lines(Path(out_dir) / JSONL) if isinstance(row.get("step"), int)]


def _lines_until(path: Path, step: int) -> list[dict[str, Any]]:
    """The header lines and the rows up to ``step`` of a ``metrics.jsonl``, in order (torn lines dropped)."""
    return [r for r in read_json_lines(path) if "step" not in r or (isinstance(r["step"], int) and r["step"] <= step)]


def read_metrics(out_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every metric of the run as ``{name: [(step, value), ...]}`` sorted by step (a later row wins on a step)."""
    by_name: dict[str, dict[int, float]] = {}
    for row in read_metric_rows(out_dir):
        for name, value in row.items():
            if name != "step" and isinstance(value, int | float):
                by_name.setdefault(name, {})[row["step"]] = float(value)
    return {name: sorted(values.items()) for name, values in by_name.items()}


def _csv_text(rows: list[dict[str, Any]]) -> str:
    merged: dict[int, dict[str, Any]] = {}
    names: dict[str, None] = {}
    for row in rows:
        merged.setdefault(row["step"], {}).update(row)
        names.update(dict.fromkeys(k for k in row if k != "step"))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["step", *names], lineterminator="\n")
    writer.writeheader()
    for step in sorted(merged):
        writer.writerow(merged[step])
    return buffer.getvalue()


class MetricsLog:
    """Append-only metrics of one run (rank 0 writes; other ranks hold a log that writes nothing).

    Args:
        out_dir: the run folder.
        resume_step: the step a resumed run continues from (rows after it are dropped); None for a fresh run,
            which starts a new history.
        enabled: False on ranks other than 0.
        header: a line written before this run's rows (the provenance record): a resumed run keeps the headers of
            the runs before it, each followed by the rows it logged, so every step's row follows the record of the
            process that logged it. Readers of rows skip header lines.
    """

    def __init__(
        self, out_dir: Path, resume_step: int | None, enabled: bool = True, header: dict[str, Any] | None = None
    ) -> None:
        self.out_dir = Path(out_dir)
        self.enabled = enabled
        self._handle: io.TextIOWrapper | None = None
        if not enabled:
            return
        kept = _lines_until(self.out_dir / JSONL, resume_step) if resume_step else []
        if header is not None:
            kept.append(header)
        text = "".join(json.dumps(r) + "\n" for r in kept)
        atomic_write_text(self.out_dir / JSONL, text)
        self._handle = open(self.out_dir / JSONL, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run
        self.write_csv()

    def log(self, metrics: dict[str, float], step: int) -> None:
        """Append one row and flush it to the operating system (it survives the process being killed)."""
        if self._handle is None:
            return
        row = {"step": step, **{k: _plain(v) for k, v in metrics.items()}}
        self._handle.write(json.dumps(row) + "\n")
        self._handle.flush()

    def sync(self) -> None:
        """Make the rows durable (fsync) and rebuild ``metrics.csv``; called at every checkpoint."""
        if self._handle is None:
            return
        os.fsync(self._handle.fileno())
        self.write_csv()

    def write_csv(self) -> None:
        """Rebuild ``metrics.csv`` from the rows, atomically."""
        if self.enabled:
            atomic_write_text(self.out_dir / CSV, _csv_text(read_metric_rows(self.out_dir)))

    def close(self) -> None:
        """Sync and close."""
        if self._handle is not None:
            self.sync()
            self._handle.close()
            self._handle = None


def _plain(value: Any) -> Any:
    value = float(value) if hasattr(value, "item") else value
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def plot_curves(out_dir: Path, names: tuple[str, ...] = ("loss", "lr", "momentum")) -> Path | None:
    """Write ``<out_dir>/plots/training_curves.png`` (one panel per metric); None when nothing was logged."""
    metrics = {n: v for n, v in read_metrics(out_dir).items() if n in names and v}
    if not metrics:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.2), squeeze=False)
    for ax, name in zip(axes[0], [n for n in names if n in metrics], strict=True):
        steps, values = zip(*metrics[name], strict=True)
        ax.plot(steps, values, linewidth=1.2, marker="o" if len(steps) < 20 else None, markersize=3)
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
