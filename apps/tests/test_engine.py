"""The engine shared by every program: checkpoints, resume checks, metrics, step plan, threads, errors, disk full."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from sce_apps.engine.atomic import OutOfSpaceError, atomic_write_text
from sce_apps.engine.checkpoints import (
    CheckpointError,
    checkpoint_path,
    load_checkpoint,
    newest_readable_checkpoint,
    save_checkpoint,
)
from sce_apps.engine.errors import exit_status, is_rank_zero
from sce_apps.engine.metrics import MetricsLog, read_metric_rows, read_metrics
from sce_apps.engine.run import StepPlan, settings_differences
from sce_apps.engine.sections import TrainConfig
from sce_apps.engine.threads import AdaptiveThreads, available_cpus, cgroup_cpu_limit, cpu_threads

MARKER = 1234.5678  # a float whose bytes are easy to find in a checkpoint file


def _state() -> dict:
    return {"learner": {"w": torch.full((64,), MARKER), "b": torch.arange(4.0)}, "optimizer": {"lr": 0.1}}


def test_checkpoint_round_trip_with_checksum(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "step-00000003.ckpt", "pretrain", 3, _state(), settings={"a": 1})
    payload = load_checkpoint(path, ("pretrain",))
    assert payload["step"] == 3 and payload["version"] == 2 and payload["settings"] == {"a": 1}
    torch.testing.assert_close(payload["learner"]["w"], torch.full((64,), MARKER))
    with pytest.raises(CheckpointError, match="is a checkpoint of sce pretrain, not of sce linear / finetune"):
        load_checkpoint(path, ("linear", "finetune"))


def test_a_flipped_byte_in_a_tensor_is_refused(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "c.ckpt", "pretrain", 1, _state())
    raw = bytearray(path.read_bytes())
    where = bytes(raw).find(torch.tensor([MARKER]).numpy().tobytes())
    assert where > 0
    raw[where + 1] ^= 0x10  # the tensor still loads, with another value
    path.write_bytes(bytes(raw))
    assert torch.load(path, weights_only=True)["learner"]["w"][0].item() != MARKER
    with pytest.raises(CheckpointError, match=r"c.ckpt is damaged: its content does not match the checksum"):
        load_checkpoint(path)


def test_resume_auto_falls_back_to_the_newest_readable_checkpoint(tmp_path: Path) -> None:
    for step in (2, 4, 6):
        save_checkpoint(checkpoint_path(tmp_path, step), "pretrain", step, _state())
    newest = checkpoint_path(tmp_path, 6)
    newest.write_bytes(newest.read_bytes()[:1000])  # truncated
    flipped = checkpoint_path(tmp_path, 4)
    raw = bytearray(flipped.read_bytes())
    raw[bytes(raw).find(torch.tensor([MARKER]).numpy().tobytes())] ^= 0x01
    flipped.write_bytes(bytes(raw))
    warnings: list[str] = []
    found = newest_readable_checkpoint(tmp_path, ("pretrain",), warn=warnings.append)
    assert found is not None and found[0] == checkpoint_path(tmp_path, 2) and found[1]["step"] == 2
    assert len(warnings) == 2
    assert "step-00000006.ckpt is damaged: it cannot be read" in warnings[0]
    assert "step-00000004.ckpt is damaged: its content does not match" in warnings[1]


def test_settings_differences_compare_only_the_mathematics() -> None:
    saved = {"model": {"trunk": "r3d18", "dim": 8}, "train": {"global_batch_size": 8, "log_every_steps": 10}}
    current = {
        "model": {"trunk": "r3d50", "dim": 8, "added_later": True},
        "train": {"global_batch_size": 16, "log_every_steps": 1},
        "data": {"num_workers": 4},
    }
    found = settings_differences(saved, current, ("model", "train.global_batch_size"))
    assert found == [
        "model.trunk: 'r3d18' in the checkpoint, 'r3d50' now",
        "train.global_batch_size: 8 in the checkpoint, 16 now",
    ]
    assert settings_differences(saved, saved, ("model", "train")) == []


def test_step_plan_arithmetic_and_periods() -> None:
    train = TrainConfig(global_batch_size=4, max_epochs=3, checkpoint_every_epochs=1.0, val_every_epochs=2)
    plan = StepPlan.of(train, num_samples=14, world_size=2)
    assert (plan.steps_per_epoch, plan.total_steps) == (3, 9)
    assert [s for s in range(1, 10) if plan.checkpoint_due(s)] == [3, 6, 9]
    assert [s for s in range(1, 10) if plan.validation_due(s)] == [6, 9]
    assert plan.epoch_of(0) == 0 and plan.epoch_of(3) == 1
    steps = StepPlan.of(TrainConfig(global_batch_size=4, max_epochs=3, checkpoint_every_steps=2), 14, 1)
    assert [s for s in range(1, 10) if steps.checkpoint_due(s)] == [2, 3, 4, 6, 8, 9]
    assert StepPlan.of(TrainConfig(global_batch_size=4, max_epochs=5, max_steps=4), 14, 1).total_steps == 4
    with pytest.raises(ValueError, match="global_batch_size=4 must be divisible by the 3 processes"):
        StepPlan.of(train, 14, 3)
    with pytest.raises(ValueError, match="has 3 training samples, fewer than one global batch"):
        StepPlan.of(train, 3, 1)


def test_metrics_log_resume_drops_later_rows_and_ignores_torn_lines(tmp_path: Path) -> None:
    log = MetricsLog(tmp_path, resume_step=None)
    for step in range(1, 7):
        log.log({"loss": 1.0 / step}, step)
    log.log({"val_top1": 0.5}, 6)
    log.close()
    with open(tmp_path / "metrics.jsonl", "a") as handle:
        handle.write('{"step": 7, "loss": 0.1')  # a crash in mid-write
    assert [r["step"] for r in read_metric_rows(tmp_path)] == [1, 2, 3, 4, 5, 6, 6]
    resumed = MetricsLog(tmp_path, resume_step=4)  # resumed from the checkpoint of step 4
    resumed.log({"loss": 0.3}, 5)
    resumed.close()
    assert read_metrics(tmp_path)["loss"] == [(1, 1.0), (2, 0.5), (3, 1 / 3), (4, 0.25), (5, 0.3)]
    assert "val_top1" not in read_metrics(tmp_path)
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0] == "step,loss" and len(lines) == 6
    MetricsLog(tmp_path, resume_step=None).close()  # a fresh run starts a new history
    assert read_metric_rows(tmp_path) == []


def test_metric_rows_survive_kill_9(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from sce_apps.engine.metrics import MetricsLog
        log = MetricsLog(Path({str(tmp_path)!r}), resume_step=None)
        for step in range(1, 5):
            log.log({{"loss": float(step)}}, step)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL
    assert read_metrics(tmp_path)["loss"] == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)]


def test_disk_full_is_one_message_naming_the_path_and_size(tmp_path: Path) -> None:
    """A file size limit stands in for a full disk (the write fails with EFBIG as it would with ENOSPC)."""
    previous = save_checkpoint(checkpoint_path(tmp_path, 1), "pretrain", 1, _state())
    script = textwrap.dedent(
        f"""
        import resource, sys, torch
        from pathlib import Path
        from sce_apps.engine.atomic import OutOfSpaceError
        from sce_apps.engine.checkpoints import save_checkpoint
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, resource.RLIM_INFINITY))
        try:
            save_checkpoint(Path({str(tmp_path)!r}) / "step-00000002.ckpt", "pretrain", 2,
                            {{"learner": {{"w": torch.zeros(1_000_000)}}}})
        except OutOfSpaceError as error:
            print(error)
            sys.exit(2)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    message = done.stdout.strip()
    assert message.startswith(f"no space left to write {tmp_path / 'step-00000002.ckpt'}: ")
    assert "of about 3.8 MiB" in message and "previous file, if any, is intact" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == [previous.name]  # no temporary file left
    assert load_checkpoint(previous)["step"] == 1


def test_out_of_space_error_is_a_user_error() -> None:
    assert exit_status(OutOfSpaceError(28, "no space")) == 2
    assert exit_status(CheckpointError("damaged")) == 2
    assert exit_status(FileNotFoundError("x")) == 2
    assert exit_status(RuntimeError("a bug")) is None


def test_rank_zero_from_the_launchers_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "GLOBAL_RANK", "SLURM_PROCID", "LOCAL_RANK", "NODE_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert is_rank_zero()
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert not is_rank_zero()
    monkeypatch.setenv("RANK", "0")
    assert is_rank_zero()  # the global rank decides


def test_cgroup_quota_v2_and_v1(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_limit(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(tmp_path) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_limit(v1) == 3.0
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_limit(v1) is None
    assert cgroup_cpu_limit(tmp_path / "none") is None
    limited = tmp_path / "one"
    limited.mkdir()
    (limited / "cpu.max").write_text("50000 100000\n")
    assert available_cpus(limited) == 1  # half a CPU of quota still gets one thread


def test_thread_count_shares_the_granted_cpus() -> None:
    assert cpu_threads(1, 0, cpus=16) == 16
    assert cpu_threads(2, 3, cpus=16) == 5  # 8 per process, less its 3 loader workers
    assert cpu_threads(4, 4, cpus=8) == 1  # never fewer than one
    assert cpu_threads(1, 0, override=3, cpus=16) == 3


def test_adaptive_threads_leave_to_others_what_they_use() -> None:
    threads = AdaptiveThreads(1, 0, window_s=0)
    threads.granted, threads.base, threads.current = 2, 2, 2
    assert threads.target(0.05, 1.9) == 2  # alone
    assert threads.target(0.67, 1.33) == 1  # one busy process took its third of the 3 runnable threads
    assert threads.target(1.0, 1.0) == 2  # two busy processes: 4 runnable threads share 2 CPUs evenly
    assert threads.target(1.2, 0.8) == 1  # three busy processes (1.2 / 0.8 x 2 threads): 1 thread makes it 4
    threads.current = 1
    assert threads.target(1.0, 1.0) == 1  # one busy process beside 1 thread: stable
    assert threads.target(1.33, 0.67) == 2  # two busy processes beside 1 thread: take the full count back
    assert threads.target(1.0, 0.0) == 1  # the run was idle: the others got what they wanted (1 busy)
    eight = AdaptiveThreads(1, 0, window_s=0)
    eight.granted, eight.base, eight.current = 8, 8, 8
    assert eight.target(2.0 * 8 / 10, 8.0 * 8 / 10) == 6  # 2 busy threads beside 8: leave them 2 CPUs
    assert eight.target(8.0 * 8 / 16, 8.0 * 8 / 16) == 8  # 8 busy threads: 16 runnable, even shares
    pair = AdaptiveThreads(2, 1, window_s=0)
    pair.granted, pair.base, pair.current = 8, 3, 3
    assert pair.target(4.0, 3.0) == 3  # the sibling's 3 threads and 1 worker are not "others"
    assert pair.target(6.0, 2.0) == 1  # 9 busy threads, 5 outside the run: 6 - 5 = 1 thread to place, at least 1 each
    assert pair.target(16 / 3, 2.0) == 1  # 8 busy threads, 4 outside: 6 - 4 = 2 threads for the 2 processes
    fixed = AdaptiveThreads(1, 0, override=2)
    assert fixed.update() == 2 and torch.get_num_threads() == 2
    torch.set_num_threads(available_cpus())


def test_user_errors_are_one_line_on_rank_zero_and_exit_2(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "sce_apps.pretrain", "--config", "demo", "--data.path", str(tmp_path / "none")]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "SCE_DEBUG")}
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"python -m sce_apps.pretrain: error: data.path does not exist: {tmp_path / 'none'}"
    ]
    other_rank = subprocess.run(command, capture_output=True, text=True, timeout=120, env={**env, "RANK": "1"})
    assert other_rank.returncode == 2 and other_rank.stderr.strip() == ""
    debug = subprocess.run([*command, "--debug"], capture_output=True, text=True, timeout=120, env=env)
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr


def test_section_help_prints_one_section() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sce_apps.pretrain", "--sce.help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "--sce.temp_m" in done.stdout and "--data.path" not in done.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "sce_apps.pretrain", "--nope.help"], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2 and "no settings section 'nope'; the sections: data, fabric, model" in bad.stderr


def test_atomic_text_write_then_metrics_csv_is_whole(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "metrics.csv", "old")
    log = MetricsLog(tmp_path, resume_step=None)
    log.log({"loss": 2.0}, 1)
    log.sync()
    assert (tmp_path / "metrics.csv").read_text() == "step,loss\n1,2.0\n"
    log.close()
