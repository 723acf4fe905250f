"""Every file the programs write goes through sce_apps.engine.atomic: exclusive temporary files, no followed symlink."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sce_apps.engine.atomic import atomic_output, atomic_write, atomic_write_text
from sce_apps.engine.checkpoints import load_checkpoint, save_checkpoint
from sce_apps.engine.run import write_settings


def _plant(folder: Path, name: str, victim: Path) -> Path:
    """A symlink under the fixed temporary name the programs used to write through (``.NAME.tmp-PID``)."""
    link = folder / f".{name}.tmp-{os.getpid()}"
    link.symlink_to(victim)
    return link


def test_planted_symlinks_are_never_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for name in ("results.json", "config.yaml", "step-00000001.ckpt"):
        _plant(tmp_path, name, victim)
    atomic_write_text(tmp_path / "results.json", "{}\n")
    write_settings(tmp_path, {"a": 1})
    save_checkpoint(tmp_path / "step-00000001.ckpt", "pretrain", 1, {})
    assert victim.read_text() == "precious"
    assert (tmp_path / "results.json").read_text() == "{}\n"
    assert "a: 1" in (tmp_path / "config.yaml").read_text()
    assert load_checkpoint(tmp_path / "step-00000001.ckpt")["step"] == 1


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    target.write_text("old")

    def fail(handle: object) -> None:
        handle.write(b"partial")  # type: ignore[attr-defined]
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, fail)
    with pytest.raises(RuntimeError, match="plot failed"), atomic_output(tmp_path / "plot.png", suffix=".png") as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path
        raise RuntimeError("plot failed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_files_get_the_usual_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "a.txt", "x")
        with atomic_output(tmp_path / "b.bin") as tmp:
            tmp.write_bytes(b"y")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b.bin").stat().st_mode & 0o777 == 0o644 and (tmp_path / "b.bin").read_bytes() == b"y"
