"""Damaged shard folders: index checksums, ``verify`` (sampled without replacement, ``--full``), ``info`` on a
missing index, the CRC-32 of every frame checked on read, the index's consistency checked on open, format 1 folders.
"""

from __future__ import annotations

import json
import re
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

import sce_video_data
from sce_video_data import (
    BatchLoader,
    BatchRequest,
    ResumableBatchSampler,
    ShardImageDataset,
    ShardReader,
    ShardVideoDataset,
    cli,
)
from sce_video_data.shards import check
from sce_video_data.shards.check import shard_info, verify_shards
from sce_video_data.shards.finalize import finalize
from sce_video_data.shards.format import INDEX_DIR, MANIFEST_FILE, ShardIndex, shard_file, sidecar_file
from sce_video_data.synthetic import decode_frame_index, write_index_shards

pytestmark = pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")

SIZE = (64, 48)  # (width, height): large enough for a real JPEG quantisation table and legible frame indices


def _folder(tmp_path: Path, items: int = 4, frames: int | tuple[int, ...] = 5, per_shard: int = 2) -> Path:
    return write_index_shards(tmp_path / "s", items, frames=frames, sizes=(SIZE,), items_per_shard=per_shard)


def _frame_range(out: Path, item: int, frame: int) -> tuple[Path, int, int]:
    """``(shard file, start, end)`` of frame ``frame`` of item ``item``, from the index."""
    a = ShardIndex.load(out, check=False).arrays
    row = int(a["item_first_frame"][item]) + frame
    start = int(a["frame_offset"][row])
    return shard_file(out, int(a["item_shard"][item])), start, start + int(a["frame_length"][row])


def _damage_quantisation_table(out: Path, item: int, frame: int) -> None:
    """Set the DC entry of the frame's first JPEG quantisation table to 255: it still decodes, to other pixels."""
    path, start, end = _frame_range(out, item, frame)
    data = bytearray(path.read_bytes())
    table = data.index(b"\xff\xdb", start, end) + 5  # FF DB, 2 length bytes, Pq/Tq, then the 64 entries
    data[table] = 255 if data[table] != 255 else 1
    path.write_bytes(bytes(data))


def _damage_start_marker(out: Path, item: int, frame: int) -> None:
    """Zero the frame's JPEG start-of-image marker: it no longer decodes."""
    path, start, _ = _frame_range(out, item, frame)
    data = bytearray(path.read_bytes())
    data[start : start + 2] = b"\x00\x00"
    path.write_bytes(bytes(data))


def _rewrite_array(out: Path, name: str, change: object) -> None:
    path = out / INDEX_DIR / f"{name}.npy"
    array = np.load(path).copy()
    change(array)  # type: ignore[operator]
    np.save(path, array)


def _frames_named(problems: list[str]) -> set[tuple[int, int]]:
    """``(item, frame)`` of every damaged frame named by ``problems`` (either wording)."""
    found = set()
    for problem in problems:
        match = re.search(r"frame (\d+) of item (\d+)", problem)
        if match:
            found.add((int(match.group(2)), int(match.group(1))))
        elif match := re.search(r"item (\d+) frame (\d+)", problem):
            found.add((int(match.group(1)), int(match.group(2))))
    return found


# ---------------------------------------------------------------------------- 1. checksums of the index files


def test_manifest_records_every_index_file_and_verify_checks_them(tmp_path: Path) -> None:
    out = _folder(tmp_path)
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    index_files = {p.name for p in (out / INDEX_DIR).iterdir()}
    assert set(manifest.get("index", {})) == index_files and "frame_crc32.npy" in index_files
    assert verify_shards(out, samples=100_000) == []
    path = out / INDEX_DIR / "frame_time.npy"  # not cross-checked on open: only its checksum can tell
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x10
    path.write_bytes(bytes(data))
    problems = verify_shards(out, samples=100_000)
    assert any("frame_time.npy" in p and "sha256 mismatch" in p for p in problems), problems
    assert cli.main(["verify", str(out), "--samples", "100000"]) == 1


def test_flipped_byte_in_frame_offset_is_caught_by_verify_and_on_open(tmp_path: Path) -> None:
    out = _folder(tmp_path)
    path = out / INDEX_DIR / "frame_offset.npy"
    data = bytearray(path.read_bytes())
    data[len(data) - 8 * 7] ^= 0x01  # the low byte of the offset of the 7th frame from the end
    path.write_bytes(bytes(data))
    problems = verify_shards(out, samples=100_000)
    assert any("frame_offset.npy" in p and "sha256 mismatch" in p for p in problems), problems
    with pytest.raises(sce_video_data.ShardDamageError, match=r"frame_offset\.npy\): frame 1[34] \(item 2\)") as err:
        ShardReader(out)
    assert str(out) in str(err.value) and "\n" not in str(err.value)


# ---------------------------------------------------------------------------- 2. verify: without replacement, --full


def test_verify_samples_frames_without_replacement(tmp_path: Path) -> None:
    out = _folder(tmp_path, items=4, frames=5)  # 20 frames, all damaged
    for item in range(4):
        for frame in range(5):
            _damage_start_marker(out, item, frame)
    problems = verify_shards(out, samples=20)
    assert _frames_named(problems) == {(i, f) for i in range(4) for f in range(5)}, problems
    assert len(_frames_named(verify_shards(out, samples=7))) == 7


def test_verify_full_checks_and_decodes_every_frame(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _folder(tmp_path, items=6, frames=(7, 3, 5))
    assert cli.main(["verify", "--full", str(out)]) == 0
    assert "sce-shards verify: 100%" in capsys.readouterr().err  # the progress bar
    _damage_quantisation_table(out, 4, 2)
    assert cli.main(["verify", "--full", "--no-progress", str(out)]) == 1
    err = capsys.readouterr().err
    assert "sce-shards verify:" not in err
    assert _frames_named(err.splitlines()) == {(4, 2)}
    assert f"{shard_file(out, 2)}: damaged frame 2 of item 4 (4)" in err
    for item in range(6):  # many damaged frames: the first ones listed, the rest counted
        _damage_start_marker(out, item, 0)
    monkeypatch.setattr(check, "MAX_FRAME_PROBLEMS", 3)
    problems = verify_shards(out, full=True)
    assert len(_frames_named(problems)) == 3 and problems[-1] == "... and 4 more damaged frames"


# ---------------------------------------------------------------------------- 3. info: a missing index


@pytest.mark.parametrize("missing", ["index/meta.json", "index/frame_offset.npy", "index/frame_crc32.npy", "index"])
def test_info_reports_a_missing_index_file(tmp_path: Path, capsys: pytest.CaptureFixture, missing: str) -> None:
    out = _folder(tmp_path)
    assert cli.main(["info", str(out)]) == 0
    capsys.readouterr()
    target = out / missing
    if target.is_dir():
        for file in target.iterdir():
            file.unlink()
        target.rmdir()
    else:
        target.unlink()
    assert cli.main(["info", str(out)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("problem: missing index") and str(target) in lines[0], lines


# ---------------------------------------------------------------------------- 4. the CRC-32 of every frame


def test_damaged_frame_raises_instead_of_decoding_wrong_pixels(tmp_path: Path) -> None:
    out = _folder(tmp_path)
    clean = ShardReader(out).read_frames(3, range(5))
    _damage_quantisation_table(out, 3, 2)
    reader = ShardReader(out)
    line = f"{shard_file(out, 1)}: damaged frame 2 of item 3 (3): bytes "
    with pytest.raises(sce_video_data.ShardDamageError, match=re.escape(line)) as err:
        reader.read_frames(3, [0, 2])
    assert isinstance(err.value, ValueError) and "\n" not in str(err.value) and reader.checks_frames
    damaged = ShardReader(out, verify_frames=False).read_frames(3, range(5))  # the opt-out: wrong pixels, no error
    assert not torch.equal(damaged[2], clean[2]) and torch.equal(damaged[:2], clean[:2])
    for copy in (True, False):
        with pytest.raises(sce_video_data.ShardDamageError, match=re.escape(line)):
            reader.frame_bytes_many([0, 3], [[1], [4, 2]], copy=copy)
    assert len(reader.frame_bytes_many([0, 3], [[1], [4, 2]], verify=False)) == 3
    assert [decode_frame_index(f) for f in reader.read_frames(3, [0, 1, 3, 4])] == [0, 1, 3, 4]  # others still read
    dataset = ShardVideoDataset(out, frames=5, clip_duration=0.2, sampling="uniform", clips_per_video=1)
    assert decode_frame_index(dataset[0]["video"][0, 2]) == 2
    with pytest.raises(sce_video_data.ShardDamageError, match=re.escape(line)):
        dataset[3]
    with pytest.raises(sce_video_data.ShardDamageError, match=re.escape(line)):  # the bytes a worker sends to the GPU
        dataset.jpeg_bytes(dataset.plans(BatchRequest((3,), (0,))))
    unchecked = ShardVideoDataset(out, frames=5, clip_duration=0.2, sampling="uniform", verify_frames=False)
    assert torch.equal(unchecked[3]["video"][0], damaged)


def test_damaged_frame_message_survives_a_loader_worker(tmp_path: Path) -> None:
    out = _folder(tmp_path)
    _damage_quantisation_table(out, 1, 4)
    dataset = ShardVideoDataset(out, frames=5, clip_duration=0.2, sampling="uniform", clips_per_video=1)
    sampler = ResumableBatchSampler(len(dataset), 4, num_replicas=1, rank=0, shuffle=False)
    error = _first_error(BatchLoader(dataset, sampler, num_workers=1))
    assert isinstance(error, sce_video_data.ShardDamageError)  # torch re-raises the worker's error type ...
    assert f"{shard_file(out, 0)}: damaged frame 4 of item 1 (1): bytes " in str(error)  # ... with its message


def _first_error(loader: BatchLoader) -> Exception:
    """The error iterating ``loader`` raises, its traceback dropped so that the workers stop now, not at the next
    garbage collection (torch then waits 5 s for them)."""
    try:
        for _ in loader:
            pass
    except Exception as err:  # noqa: BLE001 - whatever it is, the test looks at it
        err.__traceback__ = None
        return err
    raise AssertionError("the loader raised no error")


def test_damaged_image_raises(tmp_path: Path) -> None:
    out = _folder(tmp_path, items=3, frames=1)
    _damage_quantisation_table(out, 1, 0)
    assert ShardImageDataset(out)[0]["image"].shape == (48, 64, 3)
    with pytest.raises(sce_video_data.ShardDamageError, match=r"damaged frame 0 of item 1 \(1\)"):
        ShardImageDataset(out)[1]
    assert ShardImageDataset(out, verify_frames=False)[1]["image"].shape == (48, 64, 3)


# ---------------------------------------------------------------------------- 5. the index checked on open


# case: (array changed, change, what the error says: the array blamed and the first inconsistency)
INCONSISTENT = {
    "offsets not increasing": (
        "frame_offset",
        lambda a: a.__setitem__([3, 4], a[[4, 3]]),
        r"frame_offset\.npy\): frame 4 \(item 0\) starts at byte \d+, before frame 3 ends",
    ),
    "a frame past its shard": (
        "frame_length",
        lambda a: a.__setitem__(9, a[9] + 1),
        r"frame_offset\.npy\): frame 9 \(item 1\) ends at byte \d+, past the end of shard-00000\.bin",
    ),
    "a frame of length 0": (
        "frame_length",
        lambda a: a.__setitem__(12, 0),
        r"frame_length\.npy\): frame 12 \(item 2\) has length 0",
    ),
    "frames not covered": (
        "item_num_frames",
        lambda a: a.__setitem__(1, 4),
        r"item_first_frame\.npy\): item 2 starts at frame 10, expected 9",
    ),
    "first frames shifted": (
        "item_first_frame",
        lambda a: a.__setitem__(3, 14),
        r"item_first_frame\.npy\): item 3 starts at frame 14, expected 15",
    ),
    "an item of no frames": (
        "item_num_frames",
        lambda a: a.__setitem__(0, 0),
        r"item_num_frames\.npy\): item 0 has 0 frames",
    ),
    "a shard out of range": (
        "item_shard",
        lambda a: a.__setitem__(3, 2),
        r"item_shard\.npy\): item 3 in shard 2, outside \[0, 2\)",
    ),
    "shards out of order": (
        "item_shard",
        lambda a: a.__setitem__(slice(1, 3), [1, 0]),
        r"item_shard\.npy\): item 2 in shard 0 after shard 1",
    ),
    "a label out of range": ("item_label", lambda a: a.__setitem__(2, 7), r"item_label\.npy\): item 2 has label 7"),
}


@pytest.mark.parametrize("case", list(INCONSISTENT))
def test_opening_checks_the_index(tmp_path: Path, case: str) -> None:
    out = _folder(tmp_path)  # 4 items of 5 frames, 2 per shard
    array, change, detail = INCONSISTENT[case]
    _rewrite_array(out, array, change)
    for open_folder in (ShardReader, ShardVideoDataset, ShardIndex.load):
        with pytest.raises(sce_video_data.ShardDamageError, match=detail) as err:
            open_folder(out)
        assert str(err.value).startswith(f"{out}: inconsistent index") and "\n" not in str(err.value)
    assert any(p.startswith(f"index: {out}: inconsistent index") for p in shard_info(out)["problems"])


def test_opening_a_large_index_is_fast(tmp_path: Path) -> None:
    out = write_index_shards(tmp_path / "s", 30_000, frames=(2, 3), items_per_shard=3_000)
    best = min(_timed(lambda: ShardIndex.load(out, check=True)) for _ in range(3))
    assert best < 0.25, best  # about 5 ms measured for 30,000 items of 50 frames


def _timed(function: object) -> float:
    start = time.perf_counter()
    function()  # type: ignore[operator]
    return time.perf_counter() - start


# ---------------------------------------------------------------------------- format 1 folders


def _as_format_1(out: Path) -> None:
    (out / INDEX_DIR / "frame_crc32.npy").unlink()
    for path in (out / INDEX_DIR / "meta.json", out / MANIFEST_FILE):
        record = json.loads(path.read_text())
        record["format_version"] = 1
        record.pop("index", None)
        path.write_text(json.dumps(record))


def test_format_1_folders_are_read_without_the_check(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = _folder(tmp_path)
    _as_format_1(out)
    reader = ShardReader(out)
    assert not reader.checks_frames
    assert [decode_frame_index(f) for f in reader.read_frames(2, range(5))] == list(range(5))
    assert verify_shards(out, full=True) == []
    info = shard_info(out)
    assert info["frame_crc"] is False and info["problems"] == []
    assert cli.main(["info", str(out)]) == 0
    assert "format 1: no frame CRC-32 or index checksums, frames are read unchecked" in capsys.readouterr().out
    _damage_quantisation_table(out, 2, 1)
    assert reader.read_frames(2, [1]).shape == (1, 48, 64, 3)  # not detected: nothing to check against


def test_resumed_format_1_shards_get_their_crcs(tmp_path: Path) -> None:
    """A shard committed by a format 1 writer has no frame_crc32 in its .npz: finalizing computes them."""
    out = _folder(tmp_path)
    for shard in range(2):
        with np.load(sidecar_file(out, shard)) as data:
            arrays = {name: data[name] for name in data.files if name != "frame_crc32"}
        np.savez(sidecar_file(out, shard), **arrays)
    plan = {"num_shards": 2, "items_per_shard": 2}
    finalize(out, out, [(f"{k}", k % 2) for k in range(4)], ["class 0", "class 1"], {"layout": "synthetic"}, plan)
    index = ShardIndex.load(out)
    assert index.version == 2 and index.frame_crc32 is not None
    data = [shard_file(out, s).read_bytes() for s in range(2)]
    a = index.arrays
    shards = np.repeat(a["item_shard"], a["item_num_frames"])
    expected = [
        zlib.crc32(data[s][o : o + n])
        for s, o, n in zip(shards.tolist(), a["frame_offset"].tolist(), a["frame_length"].tolist(), strict=True)
    ]
    assert index.frame_crc32.tolist() == expected
    assert verify_shards(out, full=True) == []
