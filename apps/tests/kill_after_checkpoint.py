"""Test helper: run an sce program that kills itself with SIGKILL right after writing one step's checkpoint.

``python kill_after_checkpoint.py COMMAND STEP ARGS...`` runs ``sce COMMAND ARGS...`` (``pretrain``,
``linear-eval``, ``finetune``); once the periodic checkpoint of step STEP is on disk, the process sends itself SIGKILL,
as a preempted job is killed: no handler runs, nothing is cleaned up. The kill lands at the same step however fast the
machine is, where a test polling for the file from outside races a fast run (which may end, and prune that
checkpoint, between two polls).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

if __name__ == "__main__":
    if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
        del sys.path[0]  # (as the program entries do) nothing of this folder shadows a module
    from sce_apps.cli import program_main
    from sce_apps.engine.run import Run

    command, kill_at = sys.argv[1], int(sys.argv[2])
    del sys.argv[1:3]
    save = Run.save

    def save_then_die(self: Run, step: int, state: dict[str, Any], name: str | None = None) -> Path:
        path = save(self, step, state, name)
        if step == kill_at and name is None:
            os.kill(os.getpid(), signal.SIGKILL)
        return path

    Run.save = save_then_die  # type: ignore[method-assign]
    program_main(command)
