"""Provenance: what a result came from, written once by the engine into every run's outputs.

A provenance record says which data, code and settings produced a checkpoint, a feature bank, a ``results.json``
or a run's logs::

    {"program": "pretrain", "hash": "sha256:...",
     "datasets": {"data.path": {"path", "content_hash", "layout", "split", "short_side", "fps", "quality",
                                "source_root_name", "num_items", "num_failures", ...}, ...},
     "started_from": {"model.checkpoint": {"path", "checksum", "provenance_hash"}},
     "invocation": {"command": "sce pretrain", "recipe": "r3d18_kinetics200", "overrides": ["--train.max_epochs", "2"]},
     "world_size": 2, "num_nodes": 1, "strategy": "ddp", "precision": "32-true",
     "decoder": {"frames": "jpeg:simplejpeg (cpu)"},
     "versions": {"sce-apps": "0.1.0", ..., "torch": "2.14.1", "torchvision": ..., "av": ..., "simplejpeg": ...},
     "effective_lr": {"peak_lr", "initial_lr", "global_batch_size", "scaled"},
     "git_commit": "1a2b3c..." | None,
     "overrides_allowed": {...}}

``datasets`` lists every setting that names a shard folder, with that folder's content hash and build parameters
(:func:`sce_video_data.shard_provenance`); ``started_from`` every setting that names a checkpoint (its stored
checksum and, for sce checkpoints, the hash of its own provenance), so a table of results traces back to the shards
the trunk was pretrained on. ``hash`` is a SHA-256 of everything else: two records with the same hash describe the
same data, code and settings. ``sce provenance FILE`` prints a record, ``sce provenance A B`` what differs.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "PACKAGES",
    "Invocation",
    "diff_records",
    "file_record",
    "flatten",
    "format_diff",
    "format_record",
    "make_record",
    "read_provenance",
    "record_hash",
    "set_invocation",
    "set_invocation_from_argv",
]

PACKAGES = (
    "sce-apps",
    "sce-losses",
    "sce-backbones",
    "sce-video-data",
    "sce-retrieval",
    "torch",
    "torchvision",
    "lightning-fabric",
    "av",
    "numpy",
    "simplejpeg",
    "pillow",
)
"""Distributions whose versions a record carries (those installed). The programs search with torch; faiss, when
``sce-retrieval`` uses it, is recorded in that command's own record."""

CHECKPOINT_SUFFIXES = (".ckpt", ".pt", ".pth")


class Invocation:
    """How this process was started: the command, its recipe and every override (set by the command line)."""

    command: str | None = None
    recipe: str | None = None
    overrides: list[str] = []  # noqa: RUF012 - replaced, never mutated


def set_invocation(command: str | None, recipe: str | None, overrides: list[str]) -> None:
    """Record the command, the recipe (name or path) and the command-line overrides of this process.

    ``command`` None forgets them: the process runs programs from Python (recorded as such).
    """
    Invocation.command, Invocation.recipe, Invocation.overrides = command, recipe, list(overrides)


def _invocation() -> dict[str, Any]:
    if Invocation.command is None:  # called from Python (the demo, a notebook)
        return {"command": f"python {Path(sys.argv[0]).name}" if sys.argv[0] else "python", "recipe": None,
                "overrides": []}
    return {"command": Invocation.command, "recipe": Invocation.recipe, "overrides": list(Invocation.overrides)}


def _versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    versions = {}
    for name in (*PACKAGES, *extra):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _git_commit() -> str | None:
    """The commit of the repository the sce_apps package is imported from (an editable install), if any."""
    here = Path(__file__).resolve().parent
    try:
        done = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) == 40 else None


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_leaves(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def file_record(path: Path) -> dict[str, Any]:
    """A checkpoint a run started from: its path, stored checksum and own provenance hash.

    A file that is not an sce checkpoint is recorded with the sha256 of its bytes.
    """
    import torch

    record: dict[str, Any] = {"path": str(path)}
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - not a torch file: hash the bytes
        payload = None
    if isinstance(payload, dict) and "checksum" in payload:
        record["checksum"] = payload["checksum"]
        record["provenance_hash"] = (payload.get("provenance") or {}).get("hash")
        return record
    from sce_video_data.shards.format import file_digest

    record["checksum"] = f"sha256-file:{file_digest(path)['sha256']}"
    record["provenance_hash"] = None
    return record


def _inputs(settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Shard folders and checkpoints named by the settings: ``({setting: shard record}, {setting: file record})``."""
    from sce_video_data import shard_provenance

    datasets, started_from = {}, {}
    for name, value in _leaves(settings).items():
        if not isinstance(value, str) or not value or name.startswith(("fabric.", "run.")) or name == "out_dir":
            continue
        path = Path(value)
        if (path / "manifest.json").is_file():
            try:
                datasets[name] = {"path": str(path.absolute()), **shard_provenance(path)}
            except (OSError, ValueError) as error:
                datasets[name] = {"path": str(path.absolute()), "content_hash": None, "error": str(error)}
        elif path.suffix in CHECKPOINT_SUFFIXES and path.is_file():
            started_from[name] = file_record(path.absolute())
    return datasets, started_from


def record_hash(record: dict[str, Any]) -> str:
    """``sha256:<hex>`` of a record without its ``hash`` entry (canonical JSON)."""
    body = {k: v for k, v in record.items() if k != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def make_record(
    program: str,
    settings: dict[str, Any],
    run: dict[str, Any],
    decoder: dict[str, str],
    *,
    overrides_allowed: dict[str, Any] | None = None,
    effective_lr: dict[str, Any] | None = None,
    extra_versions: tuple[str, ...] = (),
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The provenance record of a run of ``program`` with ``settings`` (the resolved sections).

    Args:
        program: ``pretrain``, ``linear``, ``finetune``, ``extract``, ``demo``.
        settings: The resolved settings; every string naming a shard folder or a checkpoint is recorded with its
            hash.
        run: What ran (:func:`sce_apps.engine.launch.what_ran`: world size, nodes, strategy, precision).
        decoder: Which decoder read each dataset, e.g. ``{"frames": "jpeg:simplejpeg (cpu)"}``.
        overrides_allowed: Explicit overrides the user passed to continue a run despite a change (recorded).
        effective_lr: The peak learning rate and the global batch it was scaled from.
        extra_versions: More distributions to record (e.g. ``faiss-cpu`` when used).
        extra: More entries (e.g. the demo's steps and the provenance hash of each).
    """
    datasets, started_from = _inputs(settings)
    record: dict[str, Any] = {
        "program": program,
        "datasets": datasets,
        "started_from": started_from,
        "invocation": _invocation(),
        "world_size": run.get("world_size"),
        "num_nodes": run.get("num_nodes"),
        "strategy": run.get("strategy"),
        "precision": run.get("precision"),
        "decoder": dict(decoder),
        "versions": _versions(extra_versions),
        "git_commit": _git_commit(),
        "overrides_allowed": dict(overrides_allowed or {}),
        "effective_lr": dict(effective_lr or {}),
        **(extra or {}),
    }
    record["hash"] = record_hash(record)
    return record


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested record as ``{"datasets.data.path.content_hash": ..., ...}`` (lists stay values)."""
    return _leaves(value, prefix)


def diff_records(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(key, value in a, value in b)`` for every leaf that differs (missing: None), sorted by key.

    The records' own ``hash`` entries are left out (they differ whenever anything else does).
    """
    fa = flatten({k: v for k, v in a.items() if k != "hash"})
    fb = flatten({k: v for k, v in b.items() if k != "hash"})
    return [(k, fa.get(k), fb.get(k)) for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)]


def read_provenance(path: Path) -> dict[str, Any]:
    """The provenance record stored in ``path``.

    Reads a checkpoint (``.ckpt``), a feature bank (``.npz``), a ``results.json`` (or ``sce-retrieval --json``
    output), a run's ``config.yaml`` or ``metrics.jsonl`` (the newest header), a run folder (its ``config.yaml``) or a
    shard folder or its ``manifest.json`` (the build's record; its ``hash`` is the content hash).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: it holds no provenance record (written before sce recorded them, or not an sce file).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    record: Any = None
    if path.is_dir():
        if (path / "manifest.json").is_file():
            from sce_video_data import shard_provenance

            shards = shard_provenance(path)
            return {"program": "sce-shards build", "hash": shards["content_hash"], **shards}
        path = path / "config.yaml"
        if not path.is_file():
            raise ValueError(f"{path.parent}: neither a run folder (config.yaml) nor a shard folder (manifest.json)")
    if path.suffix == ".npz":
        from sce_retrieval import FeatureBank

        record = (FeatureBank.load(path).metadata or {}).get("provenance")
    elif path.suffix == ".json":
        record = json.loads(path.read_text(encoding="utf-8")).get("provenance")
    elif path.suffix in (".yaml", ".yml"):
        import yaml

        record = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("provenance")
    elif path.suffix == ".jsonl":
        from sce_apps.engine.metrics import read_json_lines

        headers = [row["provenance"] for row in read_json_lines(path) if "provenance" in row]
        record = headers[-1] if headers else None
    else:
        import torch

        try:
            payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception as error:  # noqa: BLE001 - say what the file is not
            raise ValueError(f"{path}: not a checkpoint, bank, results.json, config.yaml or metrics.jsonl") from error
        record = payload.get("provenance") if isinstance(payload, dict) else None
    if not isinstance(record, dict):
        raise ValueError(f"{path}: holds no provenance record (written before sce recorded provenance?)")
    if "hash" not in record and "content_hash" in record:  # a shard manifest's record: its content names it
        record = {"program": "sce-shards build", "hash": record["content_hash"], **record}
    return record


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else str(value)


def format_record(record: dict[str, Any]) -> str:
    """A record as ``key: value`` lines, its hash first (what ``sce provenance FILE`` prints)."""
    lines = [f"hash: {record.get('hash')}"]
    lines += [f"{key}: {_show(value)}" for key, value in flatten(record).items() if key != "hash"]
    return "\n".join(lines)


def format_diff(a: dict[str, Any], b: dict[str, Any], names: tuple[str, str] = ("A", "B")) -> str:
    """What differs between two records, one line per setting (what ``sce provenance A B`` prints)."""
    differences = diff_records(a, b)
    lines = [f"{names[0]}: {a.get('hash')}", f"{names[1]}: {b.get('hash')}"]
    if not differences:
        return "\n".join([*lines, "same provenance"])
    lines.append(f"{len(differences)} difference(s):")
    lines += [f"  {key}: {_show(x)} -> {_show(y)}" for key, x, y in differences]
    return "\n".join(lines)


def set_invocation_from_argv(command: str, args: list[str]) -> None:
    """Record ``command``'s recipe (``--config``) and its other command-line arguments as the overrides."""
    recipe, overrides, i = None, [], 0
    while i < len(args):
        arg = args[i]
        if arg == "--config" and i + 1 < len(args):
            recipe, i = args[i + 1], i + 2
            continue
        if arg.startswith("--config="):
            recipe = arg.split("=", 1)[1]
        else:
            overrides.append(arg)
        i += 1
    set_invocation(command, recipe, overrides)
