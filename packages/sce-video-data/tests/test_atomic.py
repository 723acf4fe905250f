"""Atomic writes of the shard builder: exclusive, symlink-safe temporary files; failures leave nothing behind."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from sce_video_data.shards import atomic
from sce_video_data.shards.atomic import atomic_write_bytes, atomic_write_json, atomic_write_npy, temporary_path

WRITERS: dict[str, Callable[[Path], None]] = {
    "bytes": lambda path: atomic_write_bytes(path, b"new content"),
    "json": lambda path: atomic_write_json(path, {"new": "content"}),
    "npy": lambda path: atomic_write_npy(path, np.arange(4, dtype=np.int64)),
}


def read_back(kind: str, path: Path) -> object:
    if kind == "bytes":
        return path.read_bytes()
    if kind == "json":
        return json.loads(path.read_text())
    return np.load(path, allow_pickle=False).tolist()


EXPECTED = {"bytes": b"new content", "json": {"new": "content"}, "npy": [0, 1, 2, 3]}


def plant_symlinks(target: Path, victim: Path) -> list[Path]:
    """Symlinks to ``victim`` at every temporary name the old code used (and its pid-only variants)."""
    names = [f".{target.name}.tmp-{os.getpid()}", f".{target.name}.tmp", f".{target.name}.tmp-{os.getpid()}-0"]
    links = [target.with_name(name) for name in names]
    for link in links:
        link.symlink_to(victim)
    return links


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_planted_symlinks_are_never_followed(tmp_path: Path, kind: str) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    target = tmp_path / f"out.{kind}"
    links = plant_symlinks(target, victim)
    WRITERS[kind](target)
    assert victim.read_text() == "precious"
    assert not target.is_symlink() and read_back(kind, target) == EXPECTED[kind]
    assert all(link.is_symlink() and link.resolve() == victim for link in links)


def test_a_name_collision_with_a_planted_symlink_takes_another_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    target = tmp_path / "meta.json"
    target.with_name(f".meta.json.tmp-{os.getpid()}-planted").symlink_to(victim)
    tokens = iter(["planted", "planted", "fresh"])
    monkeypatch.setattr(atomic, "_random_token", lambda: next(tokens))
    atomic_write_json(target, [1, 2])
    assert victim.read_text() == "precious" and json.loads(target.read_text()) == [1, 2]
    planted = f".meta.json.tmp-{os.getpid()}-planted"
    assert sorted(p.name for p in tmp_path.iterdir()) == [planted, "meta.json", "victim.txt"]


def test_temporary_path_creates_a_new_file_exclusively(tmp_path: Path) -> None:
    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"precious")
    target = tmp_path / "shard-00000.bin"
    plant_symlinks(target, victim)
    tmp = temporary_path(target)
    assert tmp.parent == tmp_path and tmp.name.startswith(f".{target.name}.tmp-") and tmp.match(".*.tmp-*")
    assert tmp.is_file() and not tmp.is_symlink() and tmp.stat().st_size == 0
    with open(tmp, "wb") as handle:  # how the shard writer uses it
        handle.write(b"frames")
    os.replace(tmp, target)
    assert victim.read_bytes() == b"precious" and target.read_bytes() == b"frames"
    assert temporary_path(target) != temporary_path(target)  # a fresh name every time


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_a_failure_mid_write_leaves_the_old_content_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    target = tmp_path / f"out.{kind}"
    target.write_bytes(b"old content")

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        WRITERS[kind](target)
    assert target.read_bytes() == b"old content"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_an_error_while_serialising_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "index.npy"
    atomic_write_npy(target, np.zeros(3))
    with pytest.raises(ValueError, match="allow_pickle"):
        atomic_write_npy(target, np.array([{"a": 1}], dtype=object))
    np.testing.assert_array_equal(np.load(target), np.zeros(3))
    assert [p.name for p in tmp_path.iterdir()] == ["index.npy"]


def test_files_are_fsynced_before_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    atomic_write_bytes(tmp_path / "x.bin", b"data")
    assert events == ["fsync", "replace"]


def test_written_files_get_the_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        atomic_write_bytes(tmp_path / "x.bin", b"data")
        tmp = temporary_path(tmp_path / "y.bin")
    finally:
        os.umask(old)
    assert (tmp_path / "x.bin").stat().st_mode & 0o777 == 0o640
    assert tmp.stat().st_mode & 0o777 == 0o640
