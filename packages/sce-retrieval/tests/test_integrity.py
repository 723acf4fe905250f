"""Integrity of banks and results: collapsed features, class names, non-bank files and atomic, symlink-safe writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from sce_retrieval import FeatureBank, knn_accuracy, knn_classify, recall_at_k
from sce_retrieval import atomic as atomic_module
from sce_retrieval.atomic import atomic_write
from sce_retrieval.cli import main

COLLAPSED = "the features are constant: the model collapsed"


def separable(n: int, seed: int, dim: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 5
    centres = np.random.default_rng(99).standard_normal((5, dim)) * 3
    return (centres[labels] + rng.standard_normal((n, dim))).astype(np.float32), labels


def constant(n: int, dtype: type = np.float32, dim: int = 8) -> np.ndarray:
    return np.tile(np.linspace(0.5, 2.0, dim, dtype=np.float32), (n, 1)).astype(dtype)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str]:
    status = main([*map(str, argv), "--backend", "torch"])
    return status, capsys.readouterr().err


def one_error_line(err: str) -> str:
    assert err.startswith("sce-retrieval: error: ") and err.count("\n") == 1, err
    return err


# -- 1. collapsed and degenerate features -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_a_collapsed_bank_is_refused_instead_of_ranked_by_tie_order(dtype: type) -> None:
    queries, q_labels = separable(10, seed=1)
    bank, b_labels = constant(25, dtype), np.arange(25) % 5
    # Today this gives R@1 = 40 % and R@5 = 100 %: the ranking is the tie order (smaller bank index first).
    with pytest.raises(ValueError, match=f"bank_features: 25 of 25 rows equal the set's mean.*{COLLAPSED}"):
        recall_at_k(queries, q_labels, bank, b_labels, ks=(1, 5), backend="torch")
    with pytest.raises(ValueError, match=f"bank_features: 25 of 25 rows.*{COLLAPSED}"):
        knn_classify(queries, bank, b_labels, k=5, backend="torch")  # DINO's setting: no centring
    with pytest.raises(ValueError, match=f"bank_features: 25 of 25 rows.*{COLLAPSED}"):
        recall_at_k(queries, q_labels, bank, b_labels, ks=1, center=False, normalize=False, backend="torch")


def test_a_collapsed_query_set_is_refused() -> None:
    bank, b_labels = separable(30, seed=2)
    with pytest.raises(ValueError, match=f"query_features: 12 of 12 rows equal the set's mean.*{COLLAPSED}"):
        recall_at_k(constant(12), np.arange(12) % 5, bank, b_labels, ks=1, backend="torch")
    with pytest.raises(ValueError, match=f"query_features: 12 of 12 .*{COLLAPSED}"):
        knn_accuracy(constant(12), np.arange(12) % 5, bank, b_labels, k=3, center=True, backend="torch")


def test_near_constant_features_are_refused_but_small_real_spread_is_not() -> None:
    queries, q_labels = separable(10, seed=3)
    rng = np.random.default_rng(4)
    scale = constant(20) * 1000  # a large common offset
    noise = rng.standard_normal(scale.shape).astype(np.float32)
    with pytest.raises(ValueError, match=COLLAPSED):
        recall_at_k(queries, q_labels, scale + 1e-7 * noise, np.arange(20) % 5, ks=1, backend="torch")
    result = recall_at_k(queries, q_labels, scale + 1e-1 * noise, np.arange(20) % 5, ks=1, backend="torch")
    assert 0.0 <= result[1] <= 1.0


def test_rows_equal_to_their_sets_mean_are_refused_with_a_count() -> None:
    bank, b_labels = separable(30, seed=5)
    queries = np.array([[1.0, 2.0], [-1.0, -2.0], [0.0, 0.0], [3.0, 1.0], [-3.0, -1.0]], np.float32)  # mean 0
    bank2 = bank[:, :2].copy()
    with pytest.raises(ValueError, match="query_features: 1 of 5 rows are zero after centring on the set's own mean"):
        recall_at_k(queries, [0, 1, 2, 3, 4], bank2, b_labels, ks=1, backend="torch")
    with pytest.raises(ValueError, match="a set of one row is always zero after centring"):
        recall_at_k(queries[:1], [0], bank2, b_labels, ks=1, backend="torch")
    assert recall_at_k(queries[:1], [0], bank2, b_labels, ks=1, center=False, backend="torch")[1] in (0.0, 1.0)


def test_zero_rows_are_refused_before_normalising_without_centring() -> None:
    bank, b_labels = separable(30, seed=6)
    bank[7] = 0.0
    queries, q_labels = separable(10, seed=7)
    with pytest.raises(ValueError, match="bank_features: 1 of 30 rows are zero .*no direction"):
        knn_classify(queries, bank, b_labels, k=3, backend="torch")
    # Raw inner products (no centring, no normalisation) do not need a direction.
    assert recall_at_k(queries, q_labels, bank, b_labels, ks=1, center=False, normalize=False, backend="torch")


def test_cli_refuses_a_collapsed_bank_with_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    queries, q_labels = separable(10, seed=8)
    query_path = FeatureBank(queries, q_labels).save(tmp_path / "val.npz")
    bank_path = FeatureBank(constant(25), np.arange(25) % 5).save(tmp_path / "train.npz")
    out = tmp_path / "r.json"
    status, err = run_cli(capsys, "--query", query_path, "--bank", bank_path, "--ks", 1, 5, "--json", out)
    assert status == 2
    assert f"bank {bank_path}: 25 of 25 rows equal the set's mean" in one_error_line(err) and COLLAPSED in err
    assert not out.exists()
    status, err = run_cli(capsys, "--query", bank_path, "--bank", query_path, "--ks", 1, "--knn-k", 0)
    assert status == 2 and f"query {bank_path}: 25 of 25 rows" in one_error_line(err)


# -- 2. class names ------------------------------------------------------------------------------------------------


def save_pair(tmp_path: Path, query_names: list[str] | None, bank_names: list[str] | None) -> tuple[Path, Path]:
    queries, q_labels = separable(10, seed=9)
    bank, b_labels = separable(30, seed=10)
    return (
        FeatureBank(queries, q_labels, class_names=query_names).save(tmp_path / "val.npz"),
        FeatureBank(bank, b_labels, class_names=bank_names).save(tmp_path / "train.npz"),
    )


def test_banks_with_different_class_names_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = ["archery", "bowling", "diving", "fencing", "golf"]
    query_path, bank_path = save_pair(tmp_path, names, [*names[:2], "surfing", *names[3:]])
    status, err = run_cli(capsys, "--query", query_path, "--bank", bank_path, "--ks", 1, "--knn-k", 3)
    assert status == 2
    line = one_error_line(err)
    assert f"query {query_path} and bank {bank_path} have different class_names" in line
    assert "label 2 is 'diving' in the query bank but 'surfing' in the bank" in line


def test_banks_with_more_class_names_on_one_side_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = ["archery", "bowling", "diving", "fencing", "golf"]
    query_path, bank_path = save_pair(tmp_path, names, [*names, "hockey"])
    status, err = run_cli(capsys, "--query", query_path, "--bank", bank_path, "--ks", 1, "--knn-k", 3)
    assert status == 2
    assert f"query {query_path} has 5 class_names but bank {bank_path} has 6 (the first 5 agree" in one_error_line(err)


@pytest.mark.parametrize(("query_names", "bank_names"), [(["a", "b", "c", "d", "e"],) * 2, (None, ["a"]), (None, None)])
def test_same_or_unknown_class_names_are_compared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], query_names: list[str] | None, bank_names: list[str] | None
) -> None:
    query_path, bank_path = save_pair(tmp_path, query_names, bank_names)
    status, _ = run_cli(capsys, "--query", query_path, "--bank", bank_path, "--ks", 1, "--knn-k", 3)
    assert status == 0


# -- 3. files that are not banks -----------------------------------------------------------------------------------

NOT_A_BANK = r"not a feature bank file \(a \.npz written by FeatureBank\.save or `sce extract-features`\)"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notes.txt", b"queries: 200\nbank: 1000\n"),
        ("bank.npz", b"this is not a zip archive"),
        ("empty.npz", b""),
        ("truncated.npz", b"PK\x03\x04\x14\x00\x00\x00"),
    ],
)
def test_a_file_that_is_not_an_archive_is_named_as_not_a_bank(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"{name}: {NOT_A_BANK}: the file is not a .npz") as info:
        FeatureBank.load(path)
    assert "pickle" not in str(info.value)


def test_a_single_npy_array_is_not_a_bank(tmp_path: Path) -> None:
    np.save(tmp_path / "features.npy", np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match=f"features.npy: {NOT_A_BANK}: the file is a single .npy array"):
        FeatureBank.load(tmp_path / "features.npy")


def test_an_npz_without_the_bank_fields_is_not_a_bank(tmp_path: Path) -> None:
    np.savez(tmp_path / "shard-00000.npz", meta=np.array("{}"), frame_offset=np.zeros(3, np.int64))
    message = rf"shard-00000.npz: {NOT_A_BANK}: missing field\(s\) \['features', 'labels', 'ids', 'header'\]"
    with pytest.raises(ValueError, match=message):
        FeatureBank.load(tmp_path / "shard-00000.npz")


def test_cli_names_a_non_bank_file_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    query_path, _ = save_pair(tmp_path, None, None)
    text = tmp_path / "results.txt"
    text.write_text("R@1 64.5%\n")
    status, err = run_cli(capsys, "--query", query_path, "--bank", text)
    assert status == 2
    assert f"{text}: not a feature bank file (a .npz written by FeatureBank.save" in one_error_line(err)
    assert "pickle" not in err


# -- 4. atomic, symlink-safe writes --------------------------------------------------------------------------------


def plant(target: Path, victim: Path) -> list[Path]:
    """Symlinks to ``victim`` at fixed temporary names (``.NAME.tmp-PID`` and variants) next to ``target``."""
    names = [f".{target.name}.tmp-{os.getpid()}", f".{target.name}.tmp", f"{target.name}.tmp"]
    links = [target.with_name(name) for name in names]
    for link in links:
        link.symlink_to(victim)
    return links


def make_victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    return victim


def test_bank_save_never_follows_planted_symlinks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    victim, target = make_victim(tmp_path), tmp_path / "bank.npz"
    links = plant(target, victim)
    target.with_name(f".bank.npz.tmp-{os.getpid()}-planted").symlink_to(victim)
    tokens = iter(["planted", "planted", "fresh"])  # the first two names tried are taken by a symlink
    monkeypatch.setattr(atomic_module, "random_token", lambda: next(tokens))
    features, labels = separable(6, seed=11)
    FeatureBank(features, labels).save(target)
    assert victim.read_text() == "precious" and all(link.resolve() == victim for link in links)
    assert not target.is_symlink()
    np.testing.assert_array_equal(FeatureBank.load(target).features, features)


def test_a_symlink_at_the_destination_is_replaced_not_written_through(tmp_path: Path) -> None:
    victim, target = make_victim(tmp_path), tmp_path / "r.json"
    target.symlink_to(victim)
    atomic_write(target, lambda f: f.write(b"{}"))
    assert victim.read_text() == "precious" and not target.is_symlink() and target.read_text() == "{}"


def test_cli_outputs_never_follow_planted_symlinks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    victim = make_victim(tmp_path)
    rng = np.random.default_rng(12)
    paths = []
    for name, n, seed in (("val.npz", 10, 13), ("train.npz", 30, 14)):
        features, labels = separable(n, seed=seed)
        thumbs = rng.integers(0, 256, (n, 4, 4, 3), dtype=np.uint8)
        paths.append(FeatureBank(features, labels, thumbnails=thumbs).save(tmp_path / name))
    out, png = tmp_path / "r.json", tmp_path / "nn.png"
    plant(out, victim)
    argv: list[object] = ["--query", paths[0], "--bank", paths[1], "--ks", 1, "--json", out]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        pass
    else:
        plant(png, victim)
        argv += ["--plot", png, "--plot-queries", 2]
    status, _ = run_cli(capsys, *argv)
    assert status == 0 and victim.read_text() == "precious"
    assert json.loads(out.read_text())["num_queries"] == 10
    if "--plot" in argv:
        assert png.read_bytes()[:4] == b"\x89PNG"


def test_an_error_mid_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    target.write_text("old")

    def half_then_fail(handle: object) -> None:
        handle.write(b"partial")  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, half_then_fail)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_a_failed_fsync_or_rename_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "bank.npz"
    features, labels = separable(6, seed=15)
    FeatureBank(features, labels).save(target)
    before = target.read_bytes()
    for name in ("fsync", "replace"):

        def fail(*args: object, message: str = f"{name} failed") -> None:
            raise OSError(message)

        with monkeypatch.context() as patch:
            patch.setattr(os, name, fail)
            with pytest.raises(OSError, match=f"{name} failed"):
                FeatureBank(features[:3], labels[:3]).save(target)
        assert target.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["bank.npz"]


def test_the_file_is_fsynced_before_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    target = tmp_path / "r.json"

    def fsync(fd: int) -> None:
        events.append("fsync folder" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync file")
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic_write(target, lambda f: f.write(b"{}"))
    assert events[:2] == ["fsync file", "replace"]


def test_written_files_get_the_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / "r.json", lambda f: f.write(b"{}"))
    finally:
        os.umask(old)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o640


def test_cli_reports_an_unwritable_json_path_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    query_path, bank_path = save_pair(tmp_path, None, None)
    (tmp_path / "out").mkdir()
    status, err = run_cli(capsys, "--query", query_path, "--bank", bank_path, "--ks", 1, "--json", tmp_path / "out")
    assert status == 2 and "out" in one_error_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "train.npz", "val.npz"]
