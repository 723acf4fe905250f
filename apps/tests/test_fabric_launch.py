from __future__ import annotations

from sce_apps.engine.launch import fabric_arguments


def test_plain_launch_keeps_every_setting(monkeypatch) -> None:
    monkeypatch.delenv("LT_CLI_USED", raising=False)
    settings = {"accelerator": "cpu", "devices": 1, "loggers": ["x"]}
    assert fabric_arguments(**settings) == settings


def test_fabric_run_flags_win_and_other_arguments_stay(monkeypatch) -> None:
    monkeypatch.setenv("LT_CLI_USED", "1")
    monkeypatch.setenv("LT_DEVICES", "2")
    monkeypatch.setenv("LT_ACCELERATOR", "cpu")
    monkeypatch.delenv("LT_PRECISION", raising=False)
    got = fabric_arguments(accelerator="cuda", devices=1, precision="bf16-mixed", loggers=["x"])
    assert got == {"precision": "bf16-mixed", "loggers": ["x"]}
