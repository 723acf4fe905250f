"""The five wheels, installed (not editable) into a fresh venv, work from a folder outside the repository.

Builds the wheels of ``packages/*`` and ``apps`` with ``hatch build -t wheel`` and installs them with pip, offline
(``--no-index``), into a new venv. The venv gets the third-party dependencies (torch, Lightning, ...) of this test
environment through a folder of links to its site-packages *without* the sce distributions and their editable finders,
so nothing is downloaded and every ``sce_*`` import comes from the installed wheels. Then, from outside the
repository: ``sce --version``, a recipe by name, and 2 CPU processes under ``fabric run`` started from the installed
pretraining entry (``sce path pretrain``) on tiny generated shards, and ``torchrun -m sce_apps.pretrain``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from sce_video_data.synthetic import write_index_shards

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PROJECTS = [
    REPO / "packages" / "sce-losses",
    REPO / "packages" / "sce-backbones",
    REPO / "packages" / "sce-video-data",
    REPO / "packages" / "sce-retrieval",
    REPO / "apps",
]
SCE_NAMES = ("sce_losses", "sce_backbones", "sce_video_data", "sce_retrieval", "sce_apps")


def _is_sce(entry: Path) -> bool:
    """A site-packages entry of an sce distribution: its package, dist-info or editable finder / ``.pth``."""
    name = entry.name.lower().replace("-", "_")
    return any(sce in name for sce in SCE_NAMES)


def _dependencies_view(folder: Path) -> Path:
    """Links to every entry of this environment's site-packages except those of the sce distributions."""
    folder.mkdir()
    sites = {Path(sysconfig.get_paths()[key]) for key in ("purelib", "platlib")}
    for site in sites:
        for entry in site.iterdir():
            if not _is_sce(entry) and not (folder / entry.name).exists():
                (folder / entry.name).symlink_to(entry)
    return folder


def _run(command: list[str | Path], cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], Path]:
    """(the venv, the environment of its commands, a working folder outside the repository)."""
    hatch = shutil.which("hatch")
    if hatch is None:
        pytest.skip("the `hatch` command is not installed")
    root = tmp_path_factory.mktemp("wheels")
    assert REPO not in root.parents
    base_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}

    dist = root / "dist"
    for project in PROJECTS:
        _run([hatch, "build", "-t", "wheel", dist], cwd=project, env=base_env)
    wheels = sorted(dist.glob("*.whl"))
    assert len(wheels) == len(PROJECTS), wheels

    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=root, env=base_env)
    python = venv / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(_run([python, "-c", purelib], cwd=root, env=base_env).strip())
    view = _dependencies_view(root / "dependencies")
    (site / "_sce_wheel_test_dependencies.pth").write_text(f"import site; site.addsitedir({str(view)!r})\n")

    hatch_bin = str(Path(sys.executable).parent)
    path = [str(venv / "bin"), *(p for p in base_env.get("PATH", "").split(os.pathsep) if p and p != hatch_bin)]
    env = {**base_env, "PATH": os.pathsep.join(path), "VIRTUAL_ENV": str(venv), "PYTHONNOUSERSITE": "1"}
    # Offline: the wheels just built, dependencies already present through the view (pip checks them).
    _run([python, "-m", "pip", "install", "--no-index", "--find-links", dist, *wheels], cwd=root, env=env)
    # The `fabric` command, as pip writes it for lightning-fabric (whose files the view provides).
    fabric = venv / "bin" / "fabric"
    fabric.write_text(f"#!{python}\nimport sys\nfrom lightning_fabric.cli import _main\nsys.exit(_main())\n")
    fabric.chmod(0o755)
    outside = root / "work"
    outside.mkdir()
    return venv, env, outside


def test_installed_wheels_run_outside_the_repository(installed: tuple[Path, dict[str, str], Path]) -> None:
    venv, env, outside = installed
    python, sce = venv / "bin" / "python", venv / "bin" / "sce"

    # Every sce package comes from the venv, none from the repository.
    files = ", ".join(f"{name}.__file__" for name in SCE_NAMES)
    where = _run([python, "-c", f"import {', '.join(SCE_NAMES)}; print({files})"], outside, env)
    assert str(REPO) not in where and where.count(str(venv)) == len(SCE_NAMES), where

    version = _run([sce, "--version"], outside, env)
    assert version.startswith("sce-apps 0.1") and "sce-video-data 0.1" in version and "not installed" not in version

    resolved = _run([sce, "pretrain", "--config", "demo", "--print_config"], outside, env)
    assert "queue_size: 512" in resolved and "crop_size: 48" in resolved, resolved
    unknown = subprocess.run([sce, "linear-eval", "--config", "nosuch"], cwd=outside, env=env, capture_output=True,
                             text=True, timeout=60)  # fmt: skip
    assert unknown.returncode == 2 and "r3d18_kinetics400" in unknown.stderr, unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
    assert "``" not in _run([sce, "pretrain", "--help"], outside, env)

    recipes = _run([sce, "recipes", "finetune"], outside, env)
    assert recipes.startswith(f"finetune ({venv}") and "r3d50_ucf101_8f" in recipes, recipes

    entry = Path(_run([sce, "path", "pretrain"], outside, env).strip())
    assert entry.is_file() and venv in entry.parents, entry

    shards = write_index_shards(outside / "shards", 32, frames=80, sizes=((72, 56),), num_classes=4)
    tiny = [
        "--data.path", shards, "--data.num_workers", "0", "--train.max_steps", "2", "--train.log_every_steps", "1",
        "--model.trunk_width", "8",
    ]  # fmt: skip
    out = outside / "fabric_run"
    _run([venv / "bin" / "fabric", "run", "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp",
          entry, "--config", "demo", *tiny, "--out_dir", out], outside, env, timeout=600)  # fmt: skip
    assert (out / "checkpoints" / "step-00000002.ckpt").is_file(), sorted(out.rglob("*"))

    # torchrun starts the module entry (its own processes: the program's Fabric joins them).
    out = outside / "torchrun"
    torchrun = [python, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "sce_apps.pretrain"]
    settings = ["--fabric.devices", "2", "--fabric.strategy", "ddp", "--out_dir", out]
    _run([*torchrun, "--config", "demo", *tiny, *settings], outside, env, timeout=600)
    assert (out / "checkpoints" / "step-00000002.ckpt").is_file(), sorted(out.rglob("*"))
