from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sce_retrieval import FeatureBank, knn_accuracy, recall_at_k
from sce_retrieval.cli import main


def write_banks(tmp_path: Path, thumbnails: bool = False) -> tuple[Path, Path, FeatureBank, FeatureBank]:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((4, 16)) * 2
    bl, ql = rng.integers(0, 4, 80), rng.integers(0, 4, 25)
    bank = FeatureBank(
        (centres[bl] + rng.standard_normal((80, 16))).astype(np.float32),
        bl + 100,
        class_names=None,
        thumbnails=rng.integers(0, 256, (80, 8, 8, 3), dtype=np.uint8) if thumbnails else None,
    )
    queries = FeatureBank(
        (centres[ql] + rng.standard_normal((25, 16))).astype(np.float32),
        ql + 100,
        thumbnails=rng.integers(0, 256, (25, 8, 8, 3), dtype=np.uint8) if thumbnails else None,
    )
    return bank.save(tmp_path / "train.npz"), queries.save(tmp_path / "val.npz"), bank, queries


def test_table_and_json_match_the_api(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bank_path, query_path, bank, queries = write_banks(tmp_path)
    out = tmp_path / "r.json"
    argv = ["--query", str(query_path), "--bank", str(bank_path), "--ks", "1", "5", "3", "--json", str(out)]
    assert main([*argv, "--backend", "torch"]) == 0
    table = capsys.readouterr().out
    result = json.loads(out.read_text())
    expected = recall_at_k(queries.features, queries.labels, bank.features, bank.labels, (1, 3, 5), backend="torch")
    assert result["recall"] == {str(k): v for k, v in expected.items()}
    accuracy = knn_accuracy(queries.features, queries.labels, bank.features, bank.labels, k=20, center=True)
    assert result["knn"] == {"k": 20, "temperature": 0.07, "accuracy": accuracy}
    assert result["num_queries"] == 25 and result["num_bank"] == 80 and result["backend"] == "torch"
    for k, v in expected.items():
        assert f"R@{k}" in table and f"{100 * v:.2f}%" in table
    assert f"{100 * accuracy:.2f}%" in table and "k-NN top-1 (k=20, T=0.07)" in table


def test_plot_writes_a_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    bank_path, query_path, _, _ = write_banks(tmp_path, thumbnails=True)
    png = tmp_path / "nn.png"
    argv = ["--query", str(query_path), "--bank", str(bank_path), "--plot", str(png), "--plot-queries", "3"]
    assert main([*argv, "--knn-k", "0", "--backend", "torch"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "k-NN" not in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nn.png", "train.npz", "val.npz"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--plot", "x.png"], "--plot needs thumbnails, but .*val.npz has no field 'thumbnails'"),
        (["--ks", "1", "81"], "ks=81 is larger than the bank"),
        (["--knn-k", "100"], "--knn-k=100 is larger than the bank"),
        (["--knn-temperature", "-1"], "temperature: expected a positive number"),
        (["--json", "/nonexistent/dir/out.json"], "folder /nonexistent/dir does not exist"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    bank_path, query_path, _, _ = write_banks(tmp_path)
    assert main(["--query", str(query_path), "--bank", str(bank_path), "--backend", "torch", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sce-retrieval: error: ")
    assert __import__("re").search(message, err)


def test_missing_file_and_dimension_mismatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bank_path, _, _, _ = write_banks(tmp_path)
    assert main(["--query", str(tmp_path / "nope.npz"), "--bank", str(bank_path)]) == 2
    assert "nope.npz: feature bank file not found" in capsys.readouterr().err
    other = FeatureBank(np.ones((3, 4), np.float32), [0, 1, 2]).save(tmp_path / "d4.npz")
    assert main(["--query", str(other), "--bank", str(bank_path)]) == 2
    assert "has dimension 4 but" in capsys.readouterr().err


def test_help_runs_as_a_module() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sce_retrieval.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for flag in ("--query", "--bank", "--ks", "--knn-k", "--backend", "--json", "--plot", "SPEC 5.5"):
        assert flag in out


def test_json_carries_the_banks_provenance(tmp_path: Path) -> None:
    import hashlib

    bank_path, query_path, bank, queries = write_banks(tmp_path)
    marked = FeatureBank(bank.features, bank.labels, metadata={"provenance": {"hash": "sha256:abc", "program": "x"}})
    marked_path = marked.save(tmp_path / "marked.npz")
    out = tmp_path / "r.json"
    argv = ["--query", str(query_path), "--bank", str(marked_path), "--json", str(out), "--backend", "torch"]
    assert main(argv) == 0
    record = json.loads(out.read_text())["provenance"]
    assert record["program"] == "sce-retrieval" and record["backend"] == "torch"
    assert record["hash"].startswith("sha256:")
    assert record["started_from"]["bank"]["provenance_hash"] == "sha256:abc"
    assert record["started_from"]["query"]["provenance_hash"] is None  # a bank written without a record
    assert record["started_from"]["query"]["sha256"] == hashlib.sha256(query_path.read_bytes()).hexdigest()
    assert "sce-retrieval" in record["versions"] and not any(k.startswith("faiss") for k in record["versions"])
    assert main([*argv[:3], str(bank_path), *argv[4:]]) == 0  # another bank file: another record
    assert json.loads(out.read_text())["provenance"]["hash"] != record["hash"]
