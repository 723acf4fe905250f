"""The pretraining program on tiny synthetic data: outputs, resume, kill-and-resume, non-finite loss."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pretrain_helpers import TINY_ARGS, load, logged, tiny_sections

from sce_apps.engine.metrics import read_metric_rows
from sce_apps.engine.run import StepPlan
from sce_apps.pretrain import NonFiniteLossError, setup
from sce_apps.pretrain.program import Schedule

APPS = Path(__file__).resolve().parents[1]
KILL_AFTER_CHECKPOINT = Path(__file__).with_name("kill_after_checkpoint.py")


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("full")
    final = setup(**tiny_sections(), out_dir=out)
    assert final == out / "checkpoints" / "step-00000006.ckpt"
    return out


def test_run_writes_checkpoints_logs_plot_and_config(full_run: Path) -> None:
    checkpoints = sorted(p.name for p in (full_run / "checkpoints").iterdir())
    assert checkpoints == ["step-00000004.ckpt", "step-00000006.ckpt"]  # keep_checkpoints=2 pruned step 2
    payload = load(full_run / "checkpoints" / "step-00000006.ckpt")
    assert payload["step"] == 6 and payload["format"] == "sce-checkpoint" and payload["program"] == "pretrain"
    assert payload["checksum"].startswith("sha256:") and payload["run"]["world_size"] == 1
    learner = payload["learner"]
    assert learner["criterion.queue"].shape == (32, 16)
    assert int(learner["criterion.queue_ptr"]) == (6 * 2 * 4) % 32  # both views enqueued every step
    assert any(k.startswith("online.trunk.") for k in learner) and any(
        k.startswith("momentum.module.") for k in learner
    )
    assert payload["schedule"]["momentum"] == 1.0  # the last EMA uses m = 1 (SPEC 2.1)
    assert payload["settings"]["model"]["trunk_width"] == 8
    assert learner["online.trunk.blocks.0.conv.weight"].shape[0] == 8  # R3D-18 at width 8: a checkpoint of a few MiB
    losses = logged(full_run, "loss")
    assert sorted(losses) == [1, 2, 3, 4, 5, 6] and all(v == v and v > 0 for v in losses.values())
    lrs = logged(full_run, "lr")
    assert lrs[1] == 0.0  # the very first step uses LR 0 (SPEC 2.7)
    assert logged(full_run, "data_wait_fraction") and logged(full_run, "clips_per_s")
    assert (full_run / "plots" / "training_curves.png").stat().st_size > 1000
    assert "queue_size: 32" in (full_run / "config.yaml").read_text()


def test_momentum_branch_is_ema_of_online(full_run: Path) -> None:
    learner = load(full_run / "checkpoints" / "step-00000006.ckpt")["learner"]
    name = "trunk.blocks.0.conv.weight" if "online.trunk.blocks.0.conv.weight" in learner else None
    online = {k[len("online.") :]: v for k, v in learner.items() if k.startswith("online.") and "predictor" not in k}
    momentum = {k[len("momentum.module.") :]: v for k, v in learner.items() if k.startswith("momentum.module.")}
    assert set(momentum) <= set(online), name
    # After training the momentum weights differ from the online ones (EMA lags), but not wildly.
    weights = [k for k in momentum if k.endswith("weight") and momentum[k].ndim > 1]
    assert any(not torch.equal(momentum[k], online[k]) for k in weights)


def test_resume_continues_exactly(full_run: Path, tmp_path: Path) -> None:
    (tmp_path / "checkpoints").mkdir()
    shutil.copy(full_run / "checkpoints" / "step-00000004.ckpt", tmp_path / "checkpoints")
    # A half-written file from a killed save must be ignored.
    (tmp_path / "checkpoints" / ".step-00000005.ckpt.tmp-999").write_bytes(b"partial")
    setup(**tiny_sections(), out_dir=tmp_path, resume="auto")
    resumed = load(tmp_path / "checkpoints" / "step-00000006.ckpt")["learner"]
    reference = load(full_run / "checkpoints" / "step-00000006.ckpt")["learner"]
    assert resumed.keys() == reference.keys()
    for key in reference:
        torch.testing.assert_close(resumed[key], reference[key], rtol=1e-5, atol=1e-6, msg=key)
    assert sorted(logged(tmp_path, "loss")) == [5, 6]


def test_resume_refuses_other_model(full_run: Path, tmp_path: Path) -> None:
    (tmp_path / "checkpoints").mkdir()
    shutil.copy(full_run / "checkpoints" / "step-00000004.ckpt", tmp_path / "checkpoints")
    with pytest.raises(
        ValueError, match=r"cannot resume from .*step-00000004.ckpt.*sce\.temp_m: 0\.05 in the checkpoint, 0\.07 now"
    ):
        setup(**tiny_sections(sce={"temp_m": 0.07}), out_dir=tmp_path, resume="auto")
    with pytest.raises(ValueError, match=r"model\.trunk_width: 8 in the checkpoint, 16 now"):
        setup(**tiny_sections(model={"trunk_width": 16}), out_dir=tmp_path, resume="auto")


def test_killed_run_resumes_to_the_same_end(full_run: Path, tmp_path: Path) -> None:
    args = [*TINY_ARGS, "--train.max_epochs", "4", "--train.checkpoint_every_steps", "1", "--out_dir", str(tmp_path)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    killed = subprocess.run(
        [sys.executable, str(KILL_AFTER_CHECKPOINT), "pretrain", "4", *args], env=env, capture_output=True, timeout=300
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    target = tmp_path / "checkpoints" / "step-00000004.ckpt"
    assert target.exists(), "the run did not reach step 4"
    assert not (tmp_path / "checkpoints" / "step-00000012.ckpt").exists()
    done = subprocess.run(
        [sys.executable, str(APPS / "pretrain.py"), *args, "--resume", "auto"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming from" in done.stdout + done.stderr
    assert f"outputs in {tmp_path}:" in done.stdout and str(tmp_path / "metrics.csv") in done.stdout
    final = load(tmp_path / "checkpoints" / "step-00000012.ckpt")
    assert final["step"] == 12
    assert int(final["learner"]["criterion.queue_ptr"]) == (12 * 2 * 4) % 32
    assert final["learner"]["criterion.queue"].shape == (32, 16)
    # The rows logged before the kill survived it, and the resumed run continued them: every step once.
    assert sorted(logged(tmp_path, "loss")) == list(range(1, 13))
    steps = [r["step"] for r in read_metric_rows(tmp_path) if "loss" in r]
    assert steps == list(range(1, 13))


def test_non_finite_loss_stops_with_step_and_keeps_checkpoint(tmp_path: Path) -> None:
    sections = tiny_sections(
        optim={"name": "sgd", "initial_lr": 1e30, "warmup_epochs": 1}, train={"checkpoint_every_steps": 1}
    )
    # Step 1 has LR 0 (warmup) and is saved; the next steps blow up: the loss or the weights stop being finite.
    with pytest.raises(
        (NonFiniteLossError, FloatingPointError),
        match=r"at step (\d+)(; | the state holds NaN).*stopping; the last good checkpoint(:| is) .*step-00000001.ckpt",
    ):
        setup(**sections, out_dir=tmp_path)
    kept = sorted((tmp_path / "checkpoints").glob("step-*.ckpt"))
    assert [p.name for p in kept] == ["step-00000001.ckpt"]
    assert all(torch.isfinite(v).all() for v in load(kept[-1])["learner"].values() if v.is_floating_point())


def test_schedule_spans_the_run() -> None:
    from sce_apps.pretrain import PretrainConfig

    sections = tiny_sections()
    config = PretrainConfig(**sections)
    schedule = Schedule(config, StepPlan(3, 6, 1.0, None, 5))
    assert schedule.lr.base_lr == pytest.approx(2.4 * 4 / 256)
    assert schedule.lr.warmup_steps == 3
    assert [schedule.momentum(s) for s in (0, 5)] == [0.99, 1.0]


def test_bad_settings_fail_before_work(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="global_batch_size=4 must be divisible|queue_size=30 must be a multiple"):
        setup(**tiny_sections(sce={"queue_size": 30}), out_dir=tmp_path)
    with pytest.raises(ValueError, match="data.path is required"):
        setup(**tiny_sections(data={"format": "video_shards"}), out_dir=tmp_path)
    with pytest.raises(ValueError, match="data.crop_scale"):
        tiny_sections(data={"crop_scale": (0.5, 0.2)})
    with pytest.raises(ValueError, match=r"model.trunk_width=8 applies to r3d18 and r3d50 only; r2plus1d18 has"):
        tiny_sections(model={"trunk": "r2plus1d18"})


def test_resume_auto_skips_a_damaged_newest_checkpoint_and_tolerates_other_settings(
    full_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "checkpoints").mkdir()
    for step in (4, 6):
        shutil.copy(full_run / "checkpoints" / f"step-0000000{step}.ckpt", tmp_path / "checkpoints")
    damaged = tmp_path / "checkpoints" / "step-00000006.ckpt"
    damaged.write_bytes(damaged.read_bytes()[:5000])  # truncated, as by a crash of the storage
    # Logging and workers do not change the run's mathematics: a resume with other values of them is accepted.
    setup(**tiny_sections(train={"log_every_steps": 2}), out_dir=tmp_path, resume="auto")
    out = capsys.readouterr()
    assert "skipping damaged checkpoint" in out.out + out.err and "step-00000006.ckpt is damaged" in out.out + out.err
    assert "resuming from" in out.out + out.err and "step-00000004.ckpt" in out.out + out.err
    resumed = load(tmp_path / "checkpoints" / "step-00000006.ckpt")["learner"]
    reference = load(full_run / "checkpoints" / "step-00000006.ckpt")["learner"]
    for key in reference:
        torch.testing.assert_close(resumed[key], reference[key], rtol=1e-5, atol=1e-6, msg=key)


def test_exploded_parameters_are_never_checkpointed(tmp_path: Path) -> None:
    """A blown-up BN scale with a finite loss (seen with augment=none) stops the run instead of being saved."""
    from lightning_fabric import Fabric

    from sce_apps.engine.metrics import MetricsLog
    from sce_apps.engine.run import Run
    from sce_apps.engine.threads import AdaptiveThreads, available_cpus

    fabric = Fabric(accelerator="cpu", devices=1)
    run = Run(fabric, "pretrain", tmp_path, {}, {}, MetricsLog(tmp_path, None), AdaptiveThreads(1, 0, override=1))
    run.save(1, {"learner": {"w": torch.ones(3)}})
    with pytest.raises(
        FloatingPointError,
        match=r"at step 2 the state holds NaN, infinite or exploded values "
        r"\(learner.bn.weight\); stopping; the last good checkpoint: .*step-00000001.ckpt",
    ):
        run.save(2, {"learner": {"bn.weight": torch.tensor([1.0, 1e20]), "w": torch.ones(3)}})
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-00000001.ckpt"]
    torch.set_num_threads(available_cpus())


def test_a_full_disk_at_a_checkpoint_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A file size limit stands in for a full disk: the checkpoint write fails, the program says so in one line."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (2_000_000, resource.RLIM_INFINITY))  # checkpoints: ~4 MB

    done = subprocess.run(
        [sys.executable, str(APPS / "pretrain.py"), *TINY_ARGS, "--out_dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit,
    )
    assert done.returncode == 2, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "Traceback" not in done.stderr
    assert errors[0].startswith(f"pretrain.py: error: no space left to write {tmp_path / 'checkpoints'}")
    assert "MiB written of about" in errors[0]
    assert not list((tmp_path / "checkpoints").iterdir())  # no temporary file left behind
    assert logged(tmp_path, "loss")  # the metrics logged before the failure are on disk


def test_a_new_global_batch_is_refused_unless_allowed(full_run: Path, tmp_path: Path) -> None:
    """Resuming step 4 (epoch 1, 1 batch of 4 done) with a batch of 8: refused, then continued when allowed."""
    (tmp_path / "checkpoints").mkdir()
    shutil.copy(full_run / "checkpoints" / "step-00000004.ckpt", tmp_path / "checkpoints")
    sections = tiny_sections(train={"global_batch_size": 8})
    with pytest.raises(ValueError, match=r"train\.global_batch_size is 8 now and was 4 .*learning rate is scaled"):
        setup(**sections, out_dir=tmp_path, resume="auto")
    setup(**sections, out_dir=tmp_path, resume="auto", allow_global_batch_change=True)
    # The new plan has 1 step of 8 per epoch, 2 in all; 4 rows done in epoch 1 fill no batch of 8, so the run goes
    # on at the new plan's step 1 (epoch 1 from its start), numbered 5 after the checkpoint's 4, and ends there.
    final = load(tmp_path / "checkpoints" / "step-00000005.ckpt")
    assert final["step"] == 5 and final["step_offset"] == 3
    assert final["sampler"] == {"epoch": 1, "batches_done": 0, "seed": 42, "rows": 12, "global_batch": 8}
    assert not (tmp_path / "checkpoints" / "step-00000006.ckpt").exists()
    allowed = final["provenance"]["overrides_allowed"]
    assert allowed["global_batch_change"] == {"from": 4, "to": 8, "at_step": 4}
    effective = final["provenance"]["effective_lr"]
    assert effective["global_batch_size"] == 8
    assert effective["peak_lr"] == pytest.approx(effective["initial_lr"] * 8 / 256)
    assert int(final["learner"]["criterion.queue_ptr"]) == 16  # rolled to 0, then one step of 2 x 8 keys
    assert sorted(logged(tmp_path, "loss")) == [5]
    assert logged(tmp_path, "lr")[5] == pytest.approx(final["schedule"]["lr"])
