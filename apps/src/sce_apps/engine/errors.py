"""User errors end a program with one line on rank 0 and exit status 2; real bugs keep their traceback.

A user error is a bad value, a missing or unreadable path, damaged data or checkpoints, or a full disk: a
``ValueError`` or an ``OSError`` (``FileNotFoundError``, :class:`~sce_apps.engine.atomic.OutOfSpaceError`,
``ShardDamageError``, :class:`~sce_apps.engine.checkpoints.CheckpointError` are among them). Every process of a
distributed job meets the same settings errors, so only rank 0 prints; damaged shard data, which one rank alone may
read, is printed by any rank, with its rank. ``--debug`` (or ``SCE_DEBUG=1``) shows the full traceback.
"""

from __future__ import annotations

import os
import sys

__all__ = ["DEBUG_FLAG", "UserError", "exit_status", "is_rank_zero", "process_rank", "report_error"]

DEBUG_FLAG = "--debug"


class UserError(ValueError):
    """A problem with the user's input, settings or files (printed as one line, exit 2)."""


PER_RANK_ERRORS = ("ShardDamageError",)
"""Errors that one rank may meet alone (it read the damaged item): printed by whichever rank meets them."""


def process_rank() -> str:
    """This process's rank in its job from the launchers' environment ("0" when not distributed)."""
    for name in ("RANK", "GLOBAL_RANK", "SLURM_PROCID"):
        if os.environ.get(name, "").strip():
            return os.environ[name].strip()
    local, node = os.environ.get("LOCAL_RANK", "0").strip() or "0", os.environ.get("NODE_RANK", "0").strip() or "0"
    return "0" if (local, node) == ("0", "0") else f"{local} of node {node}"


def is_rank_zero() -> bool:
    """Whether this process is rank 0 of its job (or not distributed)."""
    return process_rank() == "0"


def exit_status(error: BaseException) -> int | None:
    """2 for a user error, 1 for a run that stopped on its own terms (non-finite loss or weights), None for a bug."""
    if isinstance(error, ValueError | OSError):
        return 2
    if isinstance(error, FloatingPointError) or type(error).__name__ == "NonFiniteLossError":
        return 1
    return None


def report_error(prog: str, error: BaseException) -> int | None:
    """Print ``<prog>: error: <message>`` (rank 0 only) and return the exit status; None: re-raise (a bug)."""
    status = exit_status(error)
    if status is None or os.environ.get("SCE_DEBUG") == "1":
        return None
    message = " ".join(str(error).split()) or type(error).__name__
    if is_rank_zero():
        print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
    elif type(error).__name__ in PER_RANK_ERRORS:
        print(f"{prog}: error (rank {process_rank()}): {message}", file=sys.stderr, flush=True)
    return status
