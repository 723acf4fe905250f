"""Picture of queries and their nearest bank items (``sce-retrieval --plot``), drawn with matplotlib's Agg backend.

matplotlib is an optional dependency: ``pip install 'sce-retrieval[plot]'``.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from sce_retrieval.atomic import atomic_write
from sce_retrieval.bank import FeatureBank

_MATCH_COLOUR = "#2ca02c"
_MISS_COLOUR = "#d62728"


def plot_neighbours(
    queries: FeatureBank,
    bank: FeatureBank,
    scores: np.ndarray,
    indices: np.ndarray,
    path: str | os.PathLike[str],
    *,
    num_queries: int = 8,
    num_neighbours: int = 5,
) -> Path:
    """Draw a grid: one row per query (evenly spaced over the query set), its thumbnail then its nearest neighbours.

    Neighbours with the query's label are framed green, the others red; titles give label (class name when known)
    and similarity.

    Args:
        queries: The query bank (must carry thumbnails).
        bank: The searched bank (must carry thumbnails).
        scores: Similarities ``(Q, K)`` from the search.
        indices: Bank indices ``(Q, K)`` from the search, nearest first.
        path: PNG to write (atomically).
        num_queries: Rows drawn (at most ``Q``).
        num_neighbours: Neighbours per row (at most ``K``).

    Returns:
        The path written.

    Raises:
        ValueError: A bank without thumbnails or bad counts. ImportError: matplotlib is missing.
    """
    if queries.thumbnails is None or bank.thumbnails is None:
        which = "query" if queries.thumbnails is None else "bank"
        raise ValueError(f"--plot needs thumbnails, but the {which} bank has none (field 'thumbnails')")
    q_images, b_images = queries.thumbnails, bank.thumbnails
    if num_queries < 1 or num_neighbours < 1:
        raise ValueError(f"num_queries and num_neighbours must be positive, got {num_queries} and {num_neighbours}")
    rows = np.unique(np.linspace(0, len(queries) - 1, min(num_queries, len(queries))).round().astype(int))
    cols = min(num_neighbours, indices.shape[1])
    figure = _new_figure(rows.size, cols + 1)
    axes = figure.subplots(rows.size, cols + 1, squeeze=False)
    for r, q in enumerate(rows):
        _draw(axes[r][0], q_images[q], f"query\n{_label_text(queries, q)}", "black")
        for c in range(cols):
            j = int(indices[q, c])
            colour = _MATCH_COLOUR if bank.labels[j] == queries.labels[q] else _MISS_COLOUR
            _draw(axes[r][c + 1], b_images[j], f"#{c + 1} {_label_text(bank, j)}\n{scores[q, c]:.3f}", colour)
    return atomic_write(path, lambda f: figure.savefig(f, format="png"))


def _new_figure(rows: int, cols: int) -> Any:
    try:
        figure_module = importlib.import_module("matplotlib.figure")
        agg = importlib.import_module("matplotlib.backends.backend_agg")
    except ImportError as err:
        raise ImportError("--plot needs matplotlib: pip install 'sce-retrieval[plot]'") from err
    figure = figure_module.Figure(figsize=(1.6 * cols, 1.9 * rows), dpi=100, layout="constrained")
    agg.FigureCanvasAgg(figure)
    return figure


def _draw(axis: Any, image: np.ndarray, title: str, colour: str) -> None:
    axis.imshow(image)
    axis.set_title(title, fontsize=7, color=colour)
    axis.set_xticks([])
    axis.set_yticks([])
    for spine in axis.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(2.5)


def _label_text(bank: FeatureBank, i: int) -> str:
    label = int(bank.labels[i])
    names = bank.class_names
    if names is not None and 0 <= label < len(names):
        return names[label][:14]
    return str(label)
