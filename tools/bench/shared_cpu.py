"""`sce pretrain` on a CPU shared with other work: seconds per step alone and beside busy processes.

Runs the pretraining program as users run it (``python -m sce_apps.pretrain --config demo``: the demo recipe,
r3d18, 4 × 48² clips, batch 16, 0 loader workers, on ``synthetic`` data of the recipe's shape so that no shards are
needed) for a few steps, alone and beside 1 and 2 busy single-thread processes (pure-Python loops), with

* ``fixed``: ``--fabric.cpu_threads`` set to the CPUs granted (what torch does when nothing sizes its threads), and
* ``adaptive``: the engine's default (``fabric.cpu_threads`` null: threads sized from the granted CPUs and lowered
  to what other processes leave free, measured at start-up and every 10 s).

Each run logs every step; the step time is ``batch clips / clips_per_s`` of each logged row, the median over the
rows after the first two (warm-up). Rounds interleave the settings; the figures are medians over rounds, and the
ratio of each setting to the same mode alone is printed. Goal (the apps README): beside two busy processes a step
takes at most 2.5x its time alone.

Usage: python tools/bench/shared_cpu.py [--steps 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUSY = "while True:\n    pass\n"


def run_pretraining(out: Path, steps: int, threads: int | None) -> tuple[float, list[int]]:
    """Median seconds per step of one run of ``steps`` steps, and the thread counts it logged."""
    command = [
        sys.executable, "-m", "sce_apps.pretrain", "--config", "demo",
        "--data.format", "synthetic", "--data.synthetic_size", "256", "--data.synthetic_resolution", "64",
        "--data.num_workers", "0", "--train.max_steps", str(steps), "--train.log_every_steps", "1",
        "--train.checkpoint_every_steps", str(steps), "--out_dir", str(out),
    ]  # fmt: skip
    if threads is not None:
        command += ["--fabric.cpu_threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"pretraining failed:\n{done.stderr[-3000:]}")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    clips = 16 * 2  # global batch × 2 views of the demo recipe
    times = [clips / r["clips_per_s"] for r in rows if "clips_per_s" in r][2:]
    return statistics.median(times), [int(r["cpu_threads"]) for r in rows if "cpu_threads" in r]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="steps per run (the first two are not timed)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; medians over them")
    args = parser.parse_args()
    granted = len(os.sched_getaffinity(0))
    modes = {"fixed": granted, "adaptive": None}
    results: dict[tuple[str, int], list[float]] = {}
    threads_seen: dict[tuple[str, int], set[int]] = {}
    with tempfile.TemporaryDirectory() as work:
        for round_index in range(args.rounds):
            for busy in (0, 1, 2):
                for mode, threads in modes.items():
                    loops = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(busy)]
                    try:
                        time.sleep(0.5)
                        out = Path(work) / f"{mode}-{busy}-{round_index}"
                        seconds, used = run_pretraining(out, args.steps, threads)
                    finally:
                        for loop in loops:
                            loop.kill()
                            loop.wait()
                    results.setdefault((mode, busy), []).append(seconds)
                    threads_seen.setdefault((mode, busy), set()).update(used)
                    print(f"round {round_index + 1}: {mode:8s} beside {busy} busy: {seconds:.2f} s/step", flush=True)
    print(f"\nCPUs granted: {granted}; demo recipe, r3d18 4x48², batch 16, 0 workers; {args.rounds} rounds")
    print("| beside | " + " | ".join(f"{m} s/step (x alone, threads)" for m in modes) + " |")
    print("|---|" + "---|" * len(modes))
    for busy in (0, 1, 2):
        cells = []
        for mode in modes:
            median = statistics.median(results[(mode, busy)])
            alone = statistics.median(results[(mode, 0)])
            used = ",".join(str(t) for t in sorted(threads_seen[(mode, busy)]))
            cells.append(f"{median:.2f} ({median / alone:.2f}x, {used})")
        print(f"| {busy} busy | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
