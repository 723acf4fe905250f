"""`fabric run` with 2 CPU processes follows the same loss trajectory as 1 process with the same global batch."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from pretrain_helpers import TINY_ARGS, fabric_command, load, logged, tiny_sections

from sce_apps.engine.threads import available_cpus
from sce_apps.pretrain import setup

APPS = Path(__file__).resolve().parents[1]


def test_two_processes_follow_one_process(tmp_path: Path) -> None:
    single = tmp_path / "single"
    setup(**tiny_sections(train={"max_epochs": 1}), out_dir=single)
    double = tmp_path / "double"
    command = [
        *fabric_command(),
        "run",
        "--accelerator",
        "cpu",
        "--devices",
        "2",
        "--strategy",
        "ddp",
        str(APPS / "pretrain.py"),
        *TINY_ARGS,
        "--train.max_epochs",
        "1",
        "--out_dir",
        str(double),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MASTER_PORT": "0"}
    env.pop("MASTER_PORT")
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]

    one, two = logged(single, "loss"), logged(double, "loss")
    assert sorted(one) == sorted(two) == [1, 2, 3]
    for step in one:
        assert two[step] == pytest.approx(one[step], rel=2e-4, abs=2e-4), (step, one, two)
    # The same queue content (up to the order of keys inside each step's block) and the same online weights.
    a = load(single / "checkpoints" / "step-00000003.ckpt")["learner"]
    b = load(double / "checkpoints" / "step-00000003.ckpt")["learner"]
    assert int(a["criterion.queue_ptr"]) == int(b["criterion.queue_ptr"]) == 24
    key = "online.projector.0.weight"
    assert key in a and (a[key] - b[key]).abs().max() < 1e-4
    qa = a["criterion.queue"][:24].sort(dim=0).values
    qb = b["criterion.queue"][:24].sort(dim=0).values
    assert (qa - qb).abs().max() < 1e-3
    # What ran is recorded, not the recipe's `fabric` section (devices 1, strategy auto): read back, it reproduces
    # the job.
    settings = yaml.safe_load((double / "config.yaml").read_text())
    assert settings["fabric"]["devices"] == 2 and settings["fabric"]["strategy"] == "ddp"
    assert settings["run"]["world_size"] == 2 and settings["run"]["launcher"] == "fabric run"
    assert load(double / "checkpoints" / "step-00000003.ckpt")["settings"]["fabric"]["devices"] == 2
    # Each of the 2 processes takes its share of the CPUs, not every core.
    assert max(logged(double, "cpu_threads").values()) <= max(1, available_cpus() // 2)
    # One line per user error, from rank 0 only, under `fabric run` too.
    bad = subprocess.run([*command, "--sce.temp_m", "-1"], capture_output=True, text=True, timeout=600, env=env)
    assert bad.returncode != 0
    lines = [line for line in (bad.stdout + bad.stderr).splitlines() if "error:" in line]
    assert lines == ["pretrain.py: error: sce.temp_m must be positive, got -1.0"], bad.stderr[-3000:]
    # No traceback of the program (the launcher then reports the failed processes in its own summary).
    assert not [line for line in bad.stderr.splitlines() if line.strip().startswith("File ") and "sce_apps" in line]
