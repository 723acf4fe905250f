"""A killed `sce-shards build --workers 2` leaves no process behind, and the same command then resumes and completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sce_video_data import shard_info
from sce_video_data.synthetic import write_index_video

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGKILL of a process group (Linux)")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(pgid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _group_alive(pgid):
            return True
        time.sleep(0.1)
    return False


def test_sigkill_of_a_build_leaves_no_worker_and_the_build_resumes(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    for k in range(24):
        write_index_video(videos / f"c{k % 2}" / f"v{k:02d}.mp4", 60, fps=25, width=96, height=64)
    out = tmp_path / "shards"
    command = [
        sys.executable, "-m", "sce_video_data.cli", "build", "--layout", "folders", "--root", str(videos),
        "--out", str(out), "--workers", "2", "--items-per-shard", "2", "--no-progress",
    ]  # fmt: skip
    build = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list((out / "shards").glob("*.npz")) and time.monotonic() < deadline and build.poll() is None:
        time.sleep(0.05)  # until the first shard is complete: the workers are busy with the next ones
    assert build.poll() is None, "the build finished before it could be killed"
    os.kill(build.pid, signal.SIGKILL)
    build.wait()
    try:
        assert _wait_gone(build.pid, 15), "processes of the killed build are still running"
    finally:
        if _group_alive(build.pid):
            os.killpg(build.pid, signal.SIGKILL)
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    info = shard_info(out)
    assert info["items"] == 24 and not info["problems"]
