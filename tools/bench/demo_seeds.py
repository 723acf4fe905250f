"""The demo's spread over dataset seeds and contents: SCE against random init on every metric, per run, mean and min.

Runs ``hatch run demo`` (:func:`sce_apps.demo.pipeline.run_demo`) once per ``(content, seed)``, one after the other,
each into ``OUT/<content>-seed<seed>`` (a finished run is read back from its ``results.json``), then prints a Markdown
table of both trunks per run and, per metric, SCE's lead over random init (mean and min over the runs)::

    hatch run python tools/bench/demo_seeds.py --seeds 0 1 2 --contents textures scenes [--out runs/demo_seeds]

Each run takes the demo's time (minutes on 2 CPU cores); extra arguments go to the pretraining recipe as in the demo.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sce_apps.demo.make_dataset import CONTENTS
from sce_apps.demo.pipeline import COLUMNS, run_demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="dataset and run seeds")
    parser.add_argument("--contents", nargs="+", choices=sorted(CONTENTS), default=["textures"], help="datasets")
    parser.add_argument("--out", type=Path, default=Path("runs/demo_seeds"), help="folder of the runs")
    args, overrides = parser.parse_known_args(argv)
    runs: dict[str, dict[str, dict[str, float]]] = {}
    for content in args.contents:
        for seed in args.seeds:
            out = args.out / f"{content}-seed{seed}"
            saved = out / "results.json"
            results = json.loads(saved.read_text()) if saved.is_file() else None
            runs[f"{content}, seed {seed}"] = results or run_demo(
                out, seed=seed, content=content, pretrain_overrides=overrides
            )
    print(table(runs))
    return 0


def table(runs: dict[str, dict[str, dict[str, float]]]) -> str:
    """Markdown: ``SCE (random init)`` per run and metric, then SCE's lead in points, mean and min over the runs."""
    lines = ["| dataset | " + " | ".join(COLUMNS.values()) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, results in runs.items():
        sce, random_init = results["sce"], results["random_init"]
        cells = [f"{100 * sce[k]:.1f} ({100 * random_init[k]:.1f})" for k in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    leads = {k: [100 * (r["sce"][k] - r["random_init"][k]) for r in runs.values()] for k in COLUMNS}
    lines.append("| SCE lead, mean | " + " | ".join(f"{sum(v) / len(v):+.1f}" for v in leads.values()) + " |")
    lines.append("| SCE lead, min | " + " | ".join(f"{min(v):+.1f}" for v in leads.values()) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
