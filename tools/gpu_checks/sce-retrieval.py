"""GPU check for sce-retrieval: the torch backend on CUDA (and FAISS GPU when installed) against the CPU.

Checks, printed one per line, exit status 1 on any failure (2 when there is no CUDA device):
1. search on CUDA == search on CPU (cosine / ip / l2, random data, several chunk sizes): same neighbours up to
   near-ties, scores within 1e-4;
2. exact ties (small-integer features) give identical neighbours on CUDA and CPU (tie rule: smaller index first);
3. recall_at_k and knn_classify on CUDA == CPU;
4. resolve_backend("auto") follows the documented order; device="cuda" gives a CUDA plan;
5. if FAISS sees a GPU: FAISS GPU == torch CUDA, and both timed;
6. timing: 10,000 x 100,000 x 512 float32, k=50, torch on CUDA (peak CUDA memory reported).
Runs in well under a minute on an H100.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

try:
    import sce_retrieval
except ImportError:  # run from a bare checkout: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "packages" / "sce-retrieval" / "src"))
    import sce_retrieval

from sce_retrieval import knn_classify, recall_at_k, resolve_backend, search
from sce_retrieval.faiss_search import faiss_gpu_count, load_faiss

FAILURES: list[str] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    print(f"[{'PASS' if ok else 'FAIL'}] {name} {detail}".rstrip(), flush=True)
    if not ok:
        FAILURES.append(name)


def same_up_to_near_ties(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[bool, str]:
    close = np.allclose(a[0], b[0], atol=1e-4, rtol=1e-4)
    same = float((a[1] == b[1]).mean())
    return close and same > 0.995, f"(scores close: {close}, identical neighbours {100 * same:.3f}%)"


def check_against_cpu() -> None:
    rng = np.random.default_rng(0)
    bank = rng.standard_normal((20_000, 128), dtype=np.float32)
    queries = rng.standard_normal((700, 128), dtype=np.float32)
    for metric in ("cosine", "ip", "l2"):
        cpu = search(queries, bank, 20, metric=metric, backend="torch", device="cpu")
        for chunks in ((4096, 16384), (100, 3000)):
            gpu = search(
                queries,
                bank,
                20,
                metric=metric,
                backend="torch",
                device="cuda",
                query_chunk=chunks[0],
                bank_chunk=chunks[1],
            )
            ok, detail = same_up_to_near_ties(cpu, gpu)
            check(f"torch cuda == cpu, metric={metric}, chunks={chunks}", ok, detail)
    ints = rng.integers(-1, 2, size=(5000, 4)).astype(np.float32)
    qints = rng.integers(-1, 2, size=(300, 4)).astype(np.float32)
    cpu = search(qints, ints, 30, metric="ip", backend="torch", device="cpu")
    gpu = search(qints, ints, 30, metric="ip", backend="torch", device="cuda", bank_chunk=777)
    check(
        "exact ties: identical neighbours on cuda and cpu", bool((cpu[1] == gpu[1]).all() and (cpu[0] == gpu[0]).all())
    )
    labels_b, labels_q = rng.integers(-5, 5, 20_000), rng.integers(-5, 5, 700)
    r_cpu = recall_at_k(queries, labels_q, bank, labels_b, backend="torch", device="cpu")
    r_gpu = recall_at_k(queries, labels_q, bank, labels_b, backend="torch", device="cuda")
    diff = max(abs(r_cpu[k] - r_gpu[k]) for k in r_cpu)
    check("recall_at_k cuda == cpu", diff <= 2 / 700, f"(max difference {diff:.4f})")
    p_cpu = knn_classify(queries, bank, labels_b, backend="torch", device="cpu")
    p_gpu = knn_classify(queries, bank, labels_b, backend="torch", device="cuda")
    check("knn_classify cuda == cpu", float((p_cpu == p_gpu).mean()) > 0.99)


def check_faiss_gpu_and_timing() -> None:
    faiss = load_faiss()
    faiss_gpus = 0 if faiss is None else faiss_gpu_count(faiss)
    # Documented order: FAISS GPU, else FAISS CPU when installed, else torch (here on CUDA).
    expected = ("faiss", "cuda") if faiss_gpus else ("faiss", "cpu") if faiss is not None else ("torch", "cuda")
    plan = resolve_backend("auto", "auto")
    check("resolve_backend('auto') follows the documented order", (plan.backend, plan.device) == expected, f"({plan})")
    check("resolve_backend('auto', 'cuda') runs on CUDA", resolve_backend("auto", "cuda").device.startswith("cuda"))
    rng = np.random.default_rng(1)
    queries = rng.standard_normal((10_000, 512), dtype=np.float32)
    bank = rng.standard_normal((100_000, 512), dtype=np.float32)
    search(queries[:100], bank[:1000], 5, backend="torch", device="cuda")  # warm-up
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = search(queries, bank, 50, backend="torch", device="cuda")
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**20
    print(f"[INFO] torch cuda 10k x 100k x 512, k=50: {seconds:.2f} s, peak CUDA memory {peak:.0f} MiB", flush=True)
    if faiss_gpus == 0:
        print("[INFO] FAISS GPU not available here: FAISS GPU checks skipped", flush=True)
        return
    start = time.perf_counter()
    fres = search(queries, bank, 50, backend="faiss", device="cuda")
    print(f"[INFO] faiss gpu 10k x 100k x 512, k=50: {time.perf_counter() - start:.2f} s", flush=True)
    ok, detail = same_up_to_near_ties(result, fres)
    check("faiss gpu == torch cuda", ok, detail)


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device: nothing checked", flush=True)
        return 2
    print(f"sce_retrieval {sce_retrieval.__version__}, torch {torch.__version__}, {torch.cuda.get_device_name()}")
    check_against_cpu()
    check_faiss_gpu_and_timing()
    print(f"{len(FAILURES)} failure(s)" + (f": {FAILURES}" if FAILURES else ""), flush=True)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    raise SystemExit(main())
