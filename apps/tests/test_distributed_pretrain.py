"""`fabric run` with 2 CPU processes follows the same loss trajectory as 1 process with the same global batch."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from pretrain_helpers import TINY_ARGS, fabric_command, load, logged, tiny_sections
from record_samples import recording, seen

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


def _fabric_run(script: Path, args: list[str], samples: Path) -> None:
    command = [*fabric_command(), "run", "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp", str(script)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SCE_TEST_SAMPLES": str(samples)}
    env.pop("MASTER_PORT", None)
    samples.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


def _copy_checkpoint(source: Path, step: int, out: Path) -> None:
    (out / "checkpoints").mkdir(parents=True)
    shutil.copy(source / "checkpoints" / f"step-{step:08d}.ckpt", out / "checkpoints")


def test_a_run_resumes_on_another_number_of_processes(tmp_path: Path) -> None:
    """2 -> 1 and 1 -> 2 processes: over all ranks, the resumed run reads exactly the rest of the epoch's order.

    12 samples, global batch 4: 3 steps per epoch, 6 steps. Checkpoint at step 4 (epoch 1, one global batch done)
    and at step 2 (epoch 0, two done).
    """
    every_step = {"keep_checkpoints": 4}  # checkpoints at steps 2, 3 (epoch end), 4 and 6, all kept
    args = [*TINY_ARGS, "--train.keep_checkpoints", "4"]
    recorder = Path(__file__).with_name("record_samples.py")
    two = tmp_path / "two"
    _fabric_run(recorder, [*args, "--out_dir", str(two)], tmp_path / "seen_two")
    one = tmp_path / "one"
    with recording(tmp_path / "seen_one"):
        setup(**tiny_sections(train=every_step), out_dir=one)
    uninterrupted = seen(tmp_path / "seen_two")
    assert len(uninterrupted) == 2 * 12 and seen(tmp_path / "seen_one") == uninterrupted  # same global batches

    # 2 -> 1: the 2-process run's checkpoint at step 4 resumed by 1 process.
    two_to_one = tmp_path / "two_to_one"
    _copy_checkpoint(two, 4, two_to_one)
    with recording(tmp_path / "seen_two_to_one"):
        setup(**tiny_sections(train=every_step), out_dir=two_to_one, resume="auto")
    before = {key: row for key, row in uninterrupted.items() if key < (1, 4)}
    after = seen(tmp_path / "seen_two_to_one")
    assert not before.keys() & after.keys() and {**before, **after} == uninterrupted
    for name in ("lr", "momentum"):  # the schedules continue from the same step
        assert logged(two_to_one, name) == {s: v for s, v in logged(two, name).items() if s > 4}, name
    assert load(two_to_one / "checkpoints" / "step-00000006.ckpt")["run"]["world_size"] == 1

    # 1 -> 2: the 1-process run's checkpoint at step 2 resumed by 2 processes.
    one_to_two = tmp_path / "one_to_two"
    _copy_checkpoint(one, 2, one_to_two)
    _fabric_run(recorder, [*args, "--out_dir", str(one_to_two), "--resume", "auto"], tmp_path / "seen_one_to_two")
    before = {key: row for key, row in uninterrupted.items() if key < (0, 8)}
    after = seen(tmp_path / "seen_one_to_two")
    assert not before.keys() & after.keys() and {**before, **after} == uninterrupted
    for name in ("lr", "momentum"):
        assert logged(one_to_two, name) == {s: v for s, v in logged(one, name).items() if s > 2}, name
    final = load(one_to_two / "checkpoints" / "step-00000006.ckpt")
    assert final["run"]["world_size"] == 2
    resumed_from = final["provenance"]["overrides_allowed"]["resumed_from"]
    assert resumed_from["world_size"] == 1 and resumed_from["step"] == 2
