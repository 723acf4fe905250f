"""The ``sce`` command: ``sce pretrain``, ``sce extract-features``, ``sce linear-eval`` and ``sce finetune``.

A program's modules (torch, Lightning) are imported only when it runs, so ``sce --help``, ``sce --version``,
``sce path`` and ``sce recipes`` answer at once. The same programs start alone as modules (``python -m
sce_apps.pretrain``, ``torchrun -m sce_apps.pretrain``) and as script files for ``fabric run``
(``fabric run ... $(sce path pretrain) ...``); see :func:`run_entry`.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module, metadata
from importlib.resources import files
from pathlib import Path
from typing import Any

from sce_apps.__about__ import __version__
from sce_apps.engine.errors import DEBUG_FLAG, report_error
from sce_apps.help_text import plain_text
from sce_apps.recipes import UnknownRecipeError, recipe_names, recipes_dir, resolve_config_arguments


@dataclass(frozen=True)
class Program:
    """One program of ``sce``: where its function lives, its module entry, and the one-line summary of ``sce -h``."""

    target: str
    """``module:function`` run by ``sce <command>`` (its signature is the command line)."""
    module: str
    """The module of ``python -m`` / ``torchrun -m``."""
    script: str
    """That module's file, relative to the ``sce_apps`` package folder (what ``sce path`` prints)."""
    summary: str
    """The first line of the function's docstring (a test keeps the two equal)."""


PROGRAMS: dict[str, Program] = {
    "pretrain": Program(
        "sce_apps.pretrain.program:setup",
        "sce_apps.pretrain",
        "pretrain/__main__.py",
        "Pretrain a trunk with Similarity Contrastive Estimation (SCE).",
    ),
    "extract-features": Program(
        "sce_apps.extract.program:extract",
        "sce_apps.extract_features",
        "extract_features.py",
        "Extract multi-view trunk features of every video of a split into an ``sce-retrieval`` bank file.",
    ),
    "linear-eval": Program(
        "sce_apps.classify.program:linear_eval",
        "sce_apps.linear_eval",
        "linear_eval.py",
        "Linear evaluation: a linear head on the frozen trunk (eval mode), tested with multi-view averaging.",
    ),
    "finetune": Program(
        "sce_apps.classify.program:finetune",
        "sce_apps.finetune",
        "finetune.py",
        "Finetuning: the whole network trains (dropout 0.8 before the head), tested with multi-view averaging.",
    ),
}
"""The programs, by ``sce`` command."""

SCE_PACKAGES = ("sce-losses", "sce-backbones", "sce-video-data", "sce-retrieval")


def load_program(command: str) -> Callable[..., Any]:
    """The function of ``command`` (imports the program: torch, Lightning, ...)."""
    module, name = PROGRAMS[command].target.split(":")
    program: Callable[..., Any] = getattr(import_module(module), name)
    return program


def script_path(command: str) -> Path:
    """The file of ``command``'s module entry, the script to give ``fabric run`` (imports nothing)."""
    path = files("sce_apps") / PROGRAMS[command].script
    return Path(str(path))


def version_text() -> str:
    """``sce-apps X (sce-losses X, ...)``: the versions of sce-apps and of the sce packages it runs on."""

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return f"sce-apps {__version__} ({', '.join(f'{name} {version(name)}' for name in SCE_PACKAGES)})"


SECTION_HELP = re.compile(r"^--(\w+)\.help$")
"""``--data.help``: the fields of one settings section."""


def program_main(command: str, argv: list[str] | None = None, prog: str | None = None) -> None:
    """Run one program from its command line (``--config`` takes a recipe name of the program or a YAML path).

    ``--SECTION.help`` prints one section's fields. A user error (a bad value, a missing path, damaged data, a full
    disk) ends the program with one line, ``<prog>: error: ...``, on rank 0 and exit status 2; ``--debug`` (or
    ``SCE_DEBUG=1``) shows its traceback instead.
    """
    prog = prog or f"sce {command}"
    args = sys.argv[1:] if argv is None else list(argv)
    if DEBUG_FLAG in args:
        args = [a for a in args if a != DEBUG_FLAG]
        os.environ["SCE_DEBUG"] = "1"
    from sce_apps.engine.provenance import set_invocation_from_argv

    set_invocation_from_argv(prog, args)  # the recipe and every override, for the runs' provenance
    try:
        args = resolve_config_arguments(command, args)
    except UnknownRecipeError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None

    from jsonargparse import CLI, set_parsing_settings

    from sce_apps.help_text import plain_help_formatter

    set_parsing_settings(docstring_parse_attribute_docstrings=True)  # `--help` shows each settings field's docstring
    options = {
        "config_help": f"A recipe name ({', '.join(recipe_names(command))}) or the path of a YAML recipe.",
        "as_positional": False,
        "prog": prog,
        "formatter_class": plain_help_formatter(),
    }
    sections = [m.group(1) for a in args if (m := SECTION_HELP.match(a))]
    if sections:
        _print_section_help(command, sections[0], prog, options)
        return
    try:
        CLI(load_program(command), args=args, **options)
    except Exception as error:
        status = report_error(prog, error)
        if status is None:
            raise
        raise SystemExit(status) from None


def _print_section_help(command: str, section: str, prog: str, options: dict[str, Any]) -> None:
    """Print the help of one section (``--data.help``): its title and fields, as ``--help`` shows them."""
    import contextlib
    import io

    from jsonargparse import CLI

    text = io.StringIO()
    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(text):
        CLI(load_program(command), args=["--help"], **options)
    blocks = re.split(r"\n(?=\S[^\n]*:\n)", text.getvalue())
    found = [b for b in blocks if f"--{section}." in b and not b.startswith("usage:")]
    if not found:
        names = sorted(
            {m for b in blocks for m in re.findall(r"^  --(\w+) CONFIG", b, flags=re.MULTILINE)} - {"config"}
        )
        print(f"{prog}: error: no settings section {section!r}; the sections: {', '.join(names)}", file=sys.stderr)
        raise SystemExit(2)
    print(f"usage: {prog} [--{section}.FIELD VALUE ...]\n\n{found[0].rstrip()}")


def run_entry(command: str, file: str) -> None:
    """Body of a program's module entry (``python -m``, ``torchrun -m``, or the file run by ``fabric run``).

    Run as a file, Python puts the file's folder (inside the package) first on ``sys.path``, where the package's own
    modules would shadow top-level ones; it is removed before the program is imported.
    """
    folder = Path(file).resolve().parent
    if sys.path and Path(sys.path[0] or ".").resolve() == folder:
        del sys.path[0]
    program_main(command, prog=f"python -m {PROGRAMS[command].module}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sce",
        description="SCE programs on Lightning Fabric.",
        epilog="sce COMMAND --help lists a program's settings. Its --config takes a recipe name\n"
        "(sce recipes COMMAND lists them) or the path of a YAML file.",
        formatter_class=argparse.RawDescriptionHelpFormatter,  # the version line and the epilog as written
    )
    parser.add_argument("--version", action="version", version=version_text())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command, program in PROGRAMS.items():
        commands.add_parser(command, help=plain_text(program.summary), add_help=False)
    path = commands.add_parser(
        "path",
        help="Print the script file of a program, for fabric run: fabric run ... $(sce path pretrain) ...",
        description="Print the script file of a program inside the installed package, for `fabric run`.",
    )
    path.add_argument("program", choices=list(PROGRAMS))
    recipes = commands.add_parser(
        "recipes", help="List the recipes of each program (or of one) and their files.", description="List recipes."
    )
    recipes.add_argument("program", nargs="?", choices=list(PROGRAMS))
    provenance = commands.add_parser(
        "provenance",
        help="Print what a result came from (one file), or what differs between two.",
        description="Print the provenance record of a checkpoint, feature bank, results.json (or sce-retrieval "
        "--json output), config.yaml, metrics.jsonl, run folder or shard folder; with two, list what differs "
        "(exit 1 when something does).",
    )
    provenance.add_argument("files", nargs="+", metavar="FILE", help="one file to print, or two to compare")
    return parser


def _provenance(files: list[str]) -> int:
    from sce_apps.engine.provenance import format_diff, format_record, read_provenance

    if len(files) > 2:
        print(f"sce provenance: error: expected one or two files, got {len(files)}", file=sys.stderr)
        return 2
    try:
        records = [read_provenance(Path(f)) for f in files]
    except (OSError, ValueError) as error:
        print(f"sce provenance: error: {error}", file=sys.stderr)
        return 2
    if len(records) == 1:
        print(format_record(records[0]))
        return 0
    print(format_diff(records[0], records[1], (files[0], files[1])))
    return 1 if records[0].get("hash") != records[1].get("hash") else 0


def main(argv: list[str] | None = None) -> None:
    """Run ``sce COMMAND [--config RECIPE] [--section.field value ...]``; ``sce COMMAND --help`` for the fields."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args and args[0] in PROGRAMS:
        program_main(args[0], args[1:])
        return
    options = _parser().parse_args(args)
    if options.command == "path":
        print(script_path(options.program))
    elif options.command == "recipes":
        for command in [options.program] if options.program else list(PROGRAMS):
            print(f"{command} ({recipes_dir(command)}): {', '.join(recipe_names(command))}")
    elif options.command == "provenance":
        raise SystemExit(_provenance(options.files))


def pretrain_main(argv: list[str] | None = None) -> None:
    """Entry of ``apps/pretrain.py``: the pretraining program alone."""
    program_main("pretrain", argv, prog="pretrain.py")


def extract_main(argv: list[str] | None = None) -> None:
    """Entry of ``apps/extract_features.py``: feature extraction alone."""
    program_main("extract-features", argv, prog="extract_features.py")


def linear_eval_main(argv: list[str] | None = None) -> None:
    """Entry of ``apps/linear_eval.py``: linear evaluation alone."""
    program_main("linear-eval", argv, prog="linear_eval.py")


def finetune_main(argv: list[str] | None = None) -> None:
    """Entry of ``apps/finetune.py``: finetuning alone."""
    program_main("finetune", argv, prog="finetune.py")


if __name__ == "__main__":
    main()
