"""A full disk during `sce-shards build` is one line (file, bytes, free space) and exit 2, with no worker left behind;
rerunning the same command once there is space completes the build, equal to an uninterrupted one.

The disk is not filled: a file size limit (RLIMIT_FSIZE) makes the shard write fail with EFBIG, which the build treats
like ENOSPC and EDQUOT. A first input whose name is not UTF-8 takes the workers' path of such inputs (never encoded)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sce_video_data.cli import main
from sce_video_data.indexes import folders_index
from sce_video_data.shards.build import build_shards
from sce_video_data.shards.format import shard_file, sidecar_file
from sce_video_data.synthetic import write_index_video

pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")

# Sets the file size limit of this process (inherited by its workers), then runs `sce-shards` with the other arguments.
_LIMITED = (
    "import resource, sys; from sce_video_data.cli import main; "
    "resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), resource.RLIM_INFINITY)); "
    "sys.exit(main(sys.argv[2:]))"
)


def _group_gone(pgid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE and process groups (Linux)")
def test_full_disk_is_one_line_exit_2_and_the_build_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    videos = tmp_path / "videos"
    for name, frames in (("a1", 4), ("a2", 4), ("a3", 60), ("a4", 4)):  # shard 3 (one long video) is the big one
        write_index_video(videos / "c" / f"{name}.mp4", frames, fps=25, width=64, height=48)
    shutil.copyfile(videos / "c" / "a1.mp4", os.fsencode(videos) + b"/c/0\xff.mp4")  # shard 0: a failure only
    items, names = folders_index(videos)
    clean = tmp_path / "clean"
    build_shards(items, names, videos, clean, items_per_shard=1, progress=False)
    sizes = [shard_file(clean, s).stat().st_size for s in range(5)]
    limit = (max(sizes[:3]) + sizes[3]) // 2  # shards 0 to 2 fit, shard 3 does not
    assert max(sizes[:3]) < limit < sizes[3]

    out = tmp_path / "shards"
    args = ["build", "--layout", "folders", "--root", str(videos), "--out", str(out), "--items-per-shard", "1",
            "--no-progress"]  # fmt: skip
    limited = [sys.executable, "-c", _LIMITED, str(limit), *args, "--workers", "2"]
    run = subprocess.Popen(limited, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = run.communicate(timeout=300)
        assert _group_gone(run.pid, 15), "a worker of the failed build is still running"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)
    err = stderr.strip().splitlines()
    assert run.returncode == 2 and len(err) == 1, stderr[-3000:]
    assert f"no space to write {shard_file(out, 3)}: writing {sizes[3]:,} bytes" in err[0], err[0]
    assert "(EFBIG)" in err[0] and "bytes free" in err[0]
    assert sidecar_file(out, 2).is_file() and not sidecar_file(out, 3).exists()
    assert not list(out.rglob(".*tmp*")) and not (out / "manifest.json").exists()
    kept = shard_file(out, 0).stat().st_mtime_ns

    capsys.readouterr()
    assert main([*args, "--workers", "0"]) == 0  # space freed: the same command resumes
    assert "(3 already complete)" in capsys.readouterr().out
    assert shard_file(out, 0).stat().st_mtime_ns == kept
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert failures == [{"path": "c/0\\xff.mp4", "reason": "file name is not valid UTF-8"}]
    for shard in range(5):
        assert shard_file(out, shard).read_bytes() == shard_file(clean, shard).read_bytes()
    assert (out / "index" / "frame_crc32.npy").read_bytes() == (clean / "index" / "frame_crc32.npy").read_bytes()


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_no_space_while_writing_is_one_line_naming_the_file(
    code: int, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", full)  # the first file written (plan.json) finds the disk full
    (tmp_path / "videos" / "c").mkdir(parents=True)
    (tmp_path / "videos" / "c" / "v.mp4").write_bytes(b"")
    out = tmp_path / "shards"
    args = ["build", "--layout", "folders", "--root", str(tmp_path / "videos"), "--out", str(out)]
    assert main([*args, "--items-per-shard", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"no space to write {out / 'plan.json'}: writing " in err[0], err
    assert f"({errno.errorcode[code]})" in err[0] and "rerun the same command" in err[0]
    assert os.listdir(out) == []  # the temporary file is gone
