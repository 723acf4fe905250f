"""Build a shard folder from a list of inputs: parallel encoding, shard-by-shard resume, failure reporting.

Inputs are assigned to shards deterministically (``items_per_shard`` consecutive inputs per shard, fixed in
``plan.json`` on the first run), so a rerun skips every shard already committed and rebuilds only the others.
Inputs that cannot be read are skipped and listed in ``failures.jsonl``; the build goes on. So are inputs whose path is
not valid UTF-8 (never encoded; listed under a printable name) and the symlink loops the index met. An input that
resolves outside the videos root refuses the build (:class:`ValueError`), and so does a full disk
(:class:`~sce_video_data.shards.atomic.NoSpaceError`): complete shards are kept and the same call resumes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import multiprocessing
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from sce_video_data.indexes.paths import NOT_UTF8, RootGuard, is_utf8, printable_path
from sce_video_data.shards.atomic import atomic_write_json, reporting_no_space
from sce_video_data.shards.encoding import EncodeParams, encode_video_item
from sce_video_data.shards.finalize import finalize
from sce_video_data.shards.format import FORMAT_VERSION, PLAN_FILE, SHARD_DIR
from sce_video_data.shards.writer import EncodedItem, ShardWriter, sidecar_is_complete

__all__ = ["BuildReport", "build_shards"]

Encoder = Callable[[str, EncodeParams], EncodedItem]
_ESTIMATE_SAMPLES = 3


@dataclass
class BuildReport:
    """Summary of a build.

    Attributes:
        out: The shard folder.
        num_inputs: Inputs in the plan.
        num_items: Items stored (inputs minus failures).
        failures: ``{"path", "reason"}`` for each input that could not be read.
        num_shards: Shards in the plan.
        skipped_shards: Shards already complete before this run (resumed build).
        total_bytes: Bytes of all shard files.
        seconds: Wall time of this run.
    """

    out: str
    num_inputs: int
    num_items: int
    failures: list[dict[str, Any]] = field(default_factory=list)
    num_shards: int = 0
    skipped_shards: int = 0
    total_bytes: int = 0
    seconds: float = 0.0


def _encode_task(encode: Encoder, path: str, params: EncodeParams) -> tuple[EncodedItem | None, str]:
    try:
        return encode(path, params), ""
    except Exception as err:  # noqa: BLE001 - any unreadable input is reported, never fatal
        return None, f"{type(err).__name__}: {err}"


def _inputs_digest(inputs: Sequence[tuple[str, int]], class_names: Sequence[str]) -> str:
    payload = json.dumps([list(map(list, inputs)), list(class_names)], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()  # names that are not UTF-8 too


def _estimate_items_per_shard(
    root: Path, inputs: Sequence[tuple[str, int]], params: EncodeParams, shard_size: int, encode: Encoder
) -> int:
    """Encode a few evenly spaced inputs to estimate bytes per item; return ``shard_size // estimate``."""
    step = max(1, len(inputs) // _ESTIMATE_SAMPLES)
    sizes = []
    for rel, _ in [i for i in inputs if is_utf8(i[0])][::step][:_ESTIMATE_SAMPLES]:
        item, _ = _encode_task(encode, str(root / rel), params)
        if item is not None:
            sizes.append(sum(len(j) for j in item.jpegs))
    if not sizes:
        return max(1, len(inputs))
    return max(1, int(shard_size // max(1.0, sum(sizes) / len(sizes))))


def _load_or_make_plan(
    out: Path,
    root: Path,
    inputs: Sequence[tuple[str, int]],
    class_names: Sequence[str],
    settings: dict[str, Any],
    items_per_shard: int | None,
    encode: Encoder,
    params: EncodeParams,
) -> dict[str, Any]:
    digest = _inputs_digest(inputs, class_names)
    plan_path = out / PLAN_FILE
    if plan_path.is_file():
        plan = json.loads(plan_path.read_text(encoding="utf-8"))
        if plan.get("inputs_sha256") != digest or plan.get("settings") != settings:
            raise ValueError(
                f"{out}: holds a build with other inputs or parameters ({plan_path}: {plan.get('settings')}); "
                "use another --out folder or delete this one"
            )
        return plan
    if items_per_shard is None:
        items_per_shard = _estimate_items_per_shard(root, inputs, params, settings["shard_size"], encode)
    num_shards = max(1, -(-len(inputs) // items_per_shard))
    plan = {
        "format_version": FORMAT_VERSION,
        "inputs_sha256": digest,
        "settings": settings,
        "items_per_shard": items_per_shard,
        "num_shards": num_shards,
    }
    atomic_write_json(plan_path, plan)
    return plan


def die_with_parent(parent: int) -> None:
    """Worker initializer: the worker is killed when the building process dies, however it dies (even SIGKILL).

    On Linux the kernel sends SIGKILL to the worker when its parent exits (``prctl(PR_SET_PDEATHSIG)``); a worker
    whose parent is already gone exits at once (elsewhere, only that check is made). Once the workers are gone,
    multiprocessing's resource tracker loses its last writer and exits too.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    if os.getppid() != parent:
        os._exit(1)


def _results(
    tasks: list[tuple[int, int]],
    root: Path,
    inputs: Sequence[tuple[str, int]],
    params: EncodeParams,
    workers: int,
    encode: Encoder,
) -> Generator[tuple[int, int, tuple[EncodedItem | None, str]], None, None]:
    """Yield ``(shard, input id, result)`` in task order; ``workers > 1`` encodes in a process pool.

    An input whose path is not valid UTF-8 is not encoded: its result is ``(None, NOT_UTF8)``.
    """
    if workers <= 1:
        for shard, i in tasks:
            rel = inputs[i][0]
            yield shard, i, _encode_task(encode, str(root / rel), params) if is_utf8(rel) else (None, NOT_UTF8)
        return
    context = multiprocessing.get_context("spawn")
    parent = os.getpid()
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=die_with_parent, initargs=(parent,)
    ) as pool:
        window: deque[tuple[int, int, Future[Any]]] = deque()
        queue = iter(tasks)
        try:
            for shard, i in queue:
                rel = inputs[i][0]
                future: Future[Any]
                if is_utf8(rel):
                    future = pool.submit(_encode_task, encode, str(root / rel), params)
                else:
                    future = Future()
                    future.set_result((None, NOT_UTF8))
                window.append((shard, i, future))
                if len(window) >= 4 * workers:
                    s, j, future = window.popleft()
                    yield s, j, future.result()
            while window:
                s, j, future = window.popleft()
                yield s, j, future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def build_shards(
    inputs: Sequence[tuple[str, int]],
    class_names: Sequence[str],
    root: str | Path,
    out: str | Path,
    *,
    params: EncodeParams | None = None,
    shard_size: int = 1 << 30,
    items_per_shard: int | None = None,
    workers: int = 0,
    encode: Encoder = encode_video_item,
    layout: str = "videos",
    progress: bool = True,
    index_problems: Sequence[tuple[str, str]] = (),
    split: str | None = None,
) -> BuildReport:
    """Encode ``inputs`` (``(path relative to root, label)``) into the shard folder ``out``; resume if started.

    Args:
        inputs: Inputs and labels, e.g. from :mod:`sce_video_data.indexes`.
        class_names: Class names (label ``i`` is ``class_names[i]``).
        root: Folder the input paths are relative to.
        out: Shard folder (created).
        params: Storage parameters (short side, fps, JPEG quality).
        shard_size: Target bytes per shard (used to choose ``items_per_shard`` on the first run).
        items_per_shard: Inputs per shard; None estimates it from ``shard_size``.
        workers: Encoding processes (0 or 1: in this process).
        encode: Function ``(absolute path, params) -> EncodedItem`` (module-level, so workers can pickle it).
        layout: Name of the input layout, recorded in the manifest.
        progress: Show a progress bar (items/s and ETA).
        index_problems: ``(path, reason)`` of what the index found but could not list (symlink loops, from
            :func:`~sce_video_data.indexes.folders_index`'s ``problems``): listed first in ``failures.jsonl`` and
            counted as inputs that failed.
        split: Which split of the layout the inputs are (e.g. ``"train 1"``), recorded in the manifest's provenance
            (:func:`~sce_video_data.shards.provenance.shard_provenance`); not a build parameter (a resumed build may
            name it differently).

    Returns:
        The :class:`BuildReport`.

    Raises:
        ValueError: Bad arguments, an input that resolves outside ``root`` (``..``, an absolute path or a symlink
            leading out), or ``out`` holds a build of other inputs or parameters.
        NoSpaceError: The disk (or quota, or file size limit) is full: complete shards are kept, rerun to resume.
    """
    started = time.perf_counter()
    params = params or EncodeParams()
    root, out = Path(root), Path(out)
    if not inputs:
        raise ValueError(f"{root}: no inputs to build")
    bad = [label for _, label in inputs if not 0 <= label < len(class_names)]
    if bad:
        raise ValueError(f"labels must be in [0, {len(class_names)}), got {bad[:5]}")
    if shard_size <= 0 or (items_per_shard is not None and items_per_shard <= 0):
        raise ValueError(f"shard_size and items_per_shard must be > 0, got {shard_size}, {items_per_shard}")
    guard = RootGuard(root)
    for rel, _ in inputs:
        guard.check(rel)
    with reporting_no_space(out, 0):
        out.mkdir(parents=True, exist_ok=True)
    for stale in (out / SHARD_DIR).glob(".*.tmp-*"):  # left by an interrupted run
        stale.unlink(missing_ok=True)
    settings = {**asdict(params), "shard_size": shard_size, "layout": layout, "encoder": encode.__name__}
    plan = _load_or_make_plan(out, root, inputs, class_names, settings, items_per_shard, encode, params)
    k, num_shards = plan["items_per_shard"], plan["num_shards"]
    todo = [s for s in range(num_shards) if not sidecar_is_complete(out, s)]
    tasks = [(s, i) for s in todo for i in range(s * k, min((s + 1) * k, len(inputs)))]
    _write_shards(tasks, out, root, inputs, params, workers, encode, k, len(inputs) - len(tasks), progress)
    problems = [{"path": printable_path(path), "reason": reason} for path, reason in index_problems]
    report = finalize(
        out, root, inputs, [printable_path(n) for n in class_names], settings, plan, problems, split=split
    )
    return BuildReport(
        str(out),
        report["num_inputs"],
        report["num_items"],
        report["failures"],
        num_shards,
        num_shards - len(todo),
        report["total_bytes"],
        time.perf_counter() - started,
    )


def _write_shards(
    tasks: list[tuple[int, int]],
    out: Path,
    root: Path,
    inputs: Sequence[tuple[str, int]],
    params: EncodeParams,
    workers: int,
    encode: Encoder,
    per_shard: int,
    already_done: int,
    progress: bool,
) -> None:
    writer: ShardWriter | None = None
    failed = 0
    bar = tqdm(
        total=len(inputs),
        initial=already_done,
        unit="video",
        desc="sce-shards build",
        disable=not progress,
        dynamic_ncols=True,
        smoothing=0.1,
    )
    results = _results(tasks, root, inputs, params, workers, encode)
    try:
        for shard, i, (item, reason) in results:
            if writer is None or writer.shard != shard:
                writer = ShardWriter(out, shard)
            rel, label = inputs[i]
            if item is None:
                writer.add_failure(i, printable_path(rel), reason)
                failed += 1
                bar.set_postfix(failed=failed)
            else:
                item.record["path"] = rel
                writer.add(i, label, item)
            if i == min((shard + 1) * per_shard, len(inputs)) - 1:
                writer.commit()
                writer = None
            bar.update(1)
    finally:
        if writer is not None:
            writer.abort()
        results.close()  # stops the workers (pending encodes cancelled) before an error goes further
        bar.close()
