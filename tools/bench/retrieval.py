"""Benchmark of sce_retrieval.search: FAISS CPU vs the blocked torch backend, side by side in one run.

Each (bank size, backend) runs in a fresh worker process that builds the same random float32 data from a seed, so
that its peak memory can be read from /proc (VmHWM reset through /proc/self/clear_refs once the data exist): the
"extra peak" column is the memory the search itself needed on top of its inputs. The parent compares the neighbours
of the two backends and prints the torch/FAISS time ratio (the issue asks for <= 2x).

Usage (defaults are the issue's sizes: 10,000 queries, banks of 100k and 1M, dim 512, k 50):

    hatch run python tools/bench/retrieval.py
    hatch run python tools/bench/retrieval.py --queries 2000 --banks 20000 100000 --json bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=10_000, help="number of queries")
    parser.add_argument("--banks", type=int, nargs="+", default=[100_000, 1_000_000], help="bank sizes")
    parser.add_argument("--dim", type=int, default=512, help="feature dimension")
    parser.add_argument("--k", type=int, default=50, help="neighbours per query")
    parser.add_argument("--metric", default="cosine", choices=["cosine", "ip", "l2"])
    parser.add_argument("--backends", nargs="+", default=["faiss", "torch"], choices=["faiss", "torch"])
    parser.add_argument("--query-chunk", type=int, default=None, help="torch query chunk (default: library's)")
    parser.add_argument("--bank-chunk", type=int, default=None, help="torch bank chunk (default: library's)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--worker", nargs=2, metavar=("BACKEND", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--bank-size", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def make_data(num_queries: int, bank_size: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic random features (float32), generated in blocks to avoid float64 temporaries of the bank."""
    rng = np.random.default_rng(0)
    queries = rng.standard_normal((num_queries, dim), dtype=np.float32)
    bank = np.empty((bank_size, dim), dtype=np.float32)
    for start in range(0, bank_size, 100_000):
        bank[start : start + 100_000] = rng.standard_normal((min(100_000, bank_size - start), dim), dtype=np.float32)
    return queries, bank


def proc_status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def worker(args: argparse.Namespace) -> None:
    """Run one search in this process and write timing, memory and neighbours to OUT (.npz)."""
    import torch

    from sce_retrieval import search

    backend, out = args.worker
    queries, bank = make_data(args.queries, args.bank_size, args.dim)
    chunks = {k: v for k, v in (("query_chunk", args.query_chunk), ("bank_chunk", args.bank_chunk)) if v}
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS high-water mark
    base = proc_status_kib("VmRSS")
    start = time.perf_counter()
    _, indices = search(queries, bank, args.k, metric=args.metric, backend=backend, device="cpu", **chunks)
    seconds = time.perf_counter() - start
    peak = proc_status_kib("VmHWM")
    info = {
        "seconds": seconds,
        "extra_peak_mib": (peak - base) / 1024,
        "peak_rss_mib": peak / 1024,
        "threads": torch.get_num_threads(),
    }
    np.savez(out, indices=indices, info=np.array(json.dumps(info)))


def run_one(args: argparse.Namespace, backend: str, bank_size: int, folder: str) -> tuple[dict, np.ndarray]:
    out = os.path.join(folder, f"{backend}_{bank_size}.npz")
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        backend,
        out,
        "--bank-size",
        str(bank_size),
        "--queries",
        str(args.queries),
        "--dim",
        str(args.dim),
        "--k",
        str(args.k),
        "--metric",
        args.metric,
    ]
    for flag, value in (("--query-chunk", args.query_chunk), ("--bank-chunk", args.bank_chunk)):
        if value:
            cmd += [flag, str(value)]
    subprocess.run(cmd, check=True)
    with np.load(out, allow_pickle=False) as f:
        return json.loads(str(f["info"])), f["indices"]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    rows = []
    print(f"{args.queries:,} queries, dim {args.dim}, k {args.k}, metric {args.metric}, float32, CPU")
    print(f"{'bank':>10} {'backend':>8} {'seconds':>9} {'queries/s':>10} {'extra peak MiB':>15} {'peak RSS MiB':>13}")
    with tempfile.TemporaryDirectory() as folder:
        for bank_size in args.banks:
            results = {}
            for backend in args.backends:
                info, indices = run_one(args, backend, bank_size, folder)
                results[backend] = indices
                rows.append({"bank": bank_size, "backend": backend, **info})
                print(
                    f"{bank_size:>10,} {backend:>8} {info['seconds']:>9.2f} {args.queries / info['seconds']:>10,.0f} "
                    f"{info['extra_peak_mib']:>15,.0f} {info['peak_rss_mib']:>13,.0f}",
                    flush=True,
                )
            if len(results) == 2:
                same = float((results["faiss"] == results["torch"]).mean())
                times = {r["backend"]: r["seconds"] for r in rows if r["bank"] == bank_size}
                ratio = times["torch"] / times["faiss"]
                rows.append({"bank": bank_size, "torch_over_faiss": ratio, "same_neighbours": same})
                print(f"{'':>10} torch/faiss time ratio {ratio:.2f}x, identical neighbours {100 * same:.3f}%")
    if args.json:
        tmp = Path(args.json).with_name(f".{Path(args.json).name}.tmp")
        tmp.write_text(json.dumps(rows, indent=2) + "\n")
        os.replace(tmp, args.json)  # atomic
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
