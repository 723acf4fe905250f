"""The ``sce-shards`` command line: ``build``, ``info`` and ``verify``.

Exit status: 0 on success; 1 when a build stored nothing, when ``--strict`` and some input failed, or when
``info``/``verify`` find a problem; 2 on bad arguments, a missing/damaged folder, an input outside the videos root or
a full disk (each one line on stderr).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sce_video_data.__about__ import __version__
from sce_video_data.indexes import folders_index, hmdb51_index, kinetics_csv_index, list_index, ucf101_index
from sce_video_data.indexes.images import encode_image_item, imagefolder_index
from sce_video_data.shards.atomic import NoSpaceError
from sce_video_data.shards.build import BuildReport, build_shards
from sce_video_data.shards.check import shard_info, verify_shards
from sce_video_data.shards.encoding import EncodeParams, encode_video_item
from sce_video_data.shards.format import FAILURES_FILE

__all__ = ["LAYOUTS", "main", "parse_size"]

Resolved = tuple[list[tuple[str, int]], list[str], Callable[..., object], list[tuple[str, str]]]
_UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}


def parse_size(text: str) -> int:
    """``"1GiB"`` → 1073741824; accepts B, KB/MB/GB/TB (powers of 10) and KiB/MiB/GiB/TiB (powers of 2)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    if match is None or match.group(2).upper() not in _UNITS:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: expected e.g. 1GiB, 512MiB, 100MB or 1000000")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def _fps(text: str) -> float | None:
    if text.upper() == "NATIVE":
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"invalid --fps {text!r}: expected NATIVE or a positive number")
    return value


def _kinetics(args: argparse.Namespace) -> Resolved:
    splits = Path(args.splits or args.root)
    if splits.is_dir():
        candidates = [splits / f"{args.split}.csv", splits / f"{args.split}.txt", splits / f"{args.split}list.txt"]
        found = [c for c in candidates if c.is_file()]
        if not found:
            raise FileNotFoundError(f"{splits}: none of {', '.join(c.name for c in candidates)} found")
        splits = found[0]
    if splits.suffix == ".csv":
        items, names = kinetics_csv_index(splits, args.root)
    else:
        items, names = list_index(splits, args.root)
    return items, names, encode_video_item, []


def _folders(args: argparse.Namespace) -> Resolved:
    problems: list[tuple[str, str]] = []
    if args.layout == "imagefolder":
        return *imagefolder_index(args.root, problems=problems), encode_image_item, problems
    return *folders_index(args.root, problems=problems), encode_video_item, problems


LAYOUTS: dict[str, Callable[[argparse.Namespace], Resolved]] = {
    "ucf101": lambda a: (*ucf101_index(a.splits or a.root, a.split, a.split_id, a.root), encode_video_item, []),
    "hmdb51": lambda a: (*hmdb51_index(a.splits or a.root, a.split, a.split_id, a.root), encode_video_item, []),
    "kinetics": _kinetics,
    "folders": _folders,
    "imagefolder": _folders,
}
"""Layout name → resolver ``args -> (items, class_names, encoder, index problems)``.

Every resolver refuses an input that resolves outside ``--root`` (``ValueError`` naming the split file and line);
the class-folder layouts also return the symlink loops they met, which the build lists in ``failures.jsonl``."""


_BUILD_DESCRIPTION = """\
Decode every video (or image) of a dataset split once and store its frames as JPEG in a few big shard files
with an exact frame index. Resumable: rerunning the same command skips complete shards. Inputs that cannot be
read are listed in OUT/failures.jsonl and the build goes on.

layouts: folders (ROOT/<class>/<video>); ucf101 (classInd.txt and {train,test}list0N.txt); hmdb51
(<class>_test_splitN.txt); kinetics (a CSV label,youtube_id,time_start,time_end,split, or a list of
'<class>/<file> <label>' lines); imagefolder (ROOT/<class>/<image>)."""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the description's line breaks and shows the defaults of options that have one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.required or action.default in (None, False, argparse.SUPPRESS) or "%(default)" in text:
            return text
        return f"{text} (default: %(default)s)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sce-shards", description="Build, inspect and verify SCE video shards.")
    parser.add_argument("--version", action="version", version=f"sce-shards {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser(
        "build",
        help="decode videos once into JPEG-frame shards (resumable)",
        description=_BUILD_DESCRIPTION,
        formatter_class=_HelpFormatter,
    )
    build.add_argument("--layout", choices=sorted(LAYOUTS), required=True, help="how the dataset lists its inputs")
    build.add_argument("--root", type=Path, required=True, help="folder the video paths are relative to")
    build.add_argument("--splits", type=Path, help="split files folder (or a Kinetics CSV/list file); default --root")
    build.add_argument("--split", default="train", choices=["train", "val", "test"], help="which split to store")
    build.add_argument("--split-id", type=int, default=1, help="UCF101/HMDB51 split 1, 2 or 3")
    build.add_argument("--out", type=Path, required=True, help="shard folder to create or resume")
    build.add_argument("--short-side", type=int, default=128, help="short side of stored frames (0: keep)")
    build.add_argument("--fps", type=_fps, default=None, help="NATIVE (default) or a frame rate to resample to")
    build.add_argument("--quality", type=int, default=90, help="JPEG quality")
    build.add_argument("--shard-size", type=parse_size, default="1GiB", help="target shard size, e.g. 1GiB")
    build.add_argument("--items-per-shard", type=int, default=None, help="fixed inputs per shard (overrides size)")
    build.add_argument("--workers", type=int, default=1, help="encoding processes")
    build.add_argument("--strict", action="store_true", help="exit 1 if any input cannot be read")
    build.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    for name, text in (("info", "counts and a size check"), ("verify", "checksums and sample decoding")):
        command = sub.add_parser(name, help=text)
        command.add_argument("path", type=Path, help="shard folder")
    verify = sub.choices["verify"]
    verify.add_argument("--samples", type=int, default=64, help="frames to check and decode (without replacement)")
    verify.add_argument("--full", action="store_true", help="check the CRC-32 of every frame and decode every frame")
    verify.add_argument("--no-progress", action="store_true", help="hide the progress bar of --full")
    return parser


def _print_build(report: BuildReport) -> None:
    mib = report.total_bytes / 2**20
    print(
        f"built {report.num_items}/{report.num_inputs} inputs into {report.num_shards} shards "
        f"({report.skipped_shards} already complete), {mib:.1f} MiB, {report.seconds:.1f} s -> {report.out}"
    )
    if report.failures:
        print(f"{len(report.failures)} inputs could not be read (listed in {Path(report.out) / FAILURES_FILE}):")
        for failure in report.failures[:20]:
            print(f"  {failure['path']}: {failure['reason']}")


def _split_name(args: argparse.Namespace) -> str | None:
    """The split as the manifest records it: ``train 1`` (UCF101/HMDB51), ``val`` (Kinetics), None (folders)."""
    if args.layout in ("ucf101", "hmdb51"):
        return f"{args.split} {args.split_id}"
    return args.split if args.layout == "kinetics" else None


def _build(args: argparse.Namespace) -> int:
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out}: is a file; expected a shard folder to create or resume")
    if args.split == "val" and args.layout in ("ucf101", "hmdb51"):
        raise ValueError(f"--split val: {args.layout} has only train and test splits")
    items, class_names, encode, problems = LAYOUTS[args.layout](args)
    params = EncodeParams(args.short_side, args.fps, args.quality)
    report = build_shards(
        items,
        class_names,
        args.root,
        args.out,
        params=params,
        shard_size=args.shard_size,
        items_per_shard=args.items_per_shard,
        workers=args.workers,
        encode=encode,  # type: ignore[arg-type]
        layout=args.layout,
        progress=not args.no_progress,
        index_problems=problems,
        split=_split_name(args),
    )
    _print_build(report)
    if report.num_items == 0:
        print("error: no input could be read", file=sys.stderr)
        return 1
    return 1 if args.strict and report.failures else 0


def _info(args: argparse.Namespace) -> int:
    info = shard_info(args.path)
    for key in ("path", "items", "classes", "frames", "shards", "failures"):
        print(f"{key:>9}: {info[key]}")
    print(f"{'bytes':>9}: {info['bytes']} ({info['bytes'] / 2**20:.1f} MiB)")
    if info["kind"] == "images":
        print(f"{'per image':>9}: {info['bytes'] / max(1, info['items']):.0f} bytes")
    else:
        print(f"{'duration':>9}: {info['duration']:.1f} s of video")
        rate = info["bytes_per_second"]
        print(f"{'bytes/s':>9}: " + (f"{rate:.0f} per video-second ({rate / 2**10:.1f} KiB/s)" if rate else "n/a"))
    print(f"{'stored':>9}: {_stored(info)}")
    record = info["provenance"]
    print(f"{'content':>9}: {record['content_hash']}")
    split = f", split {record['split']}" if record["split"] else ""
    print(
        f"{'source':>9}: layout {record['layout']}{split}, from {record['source_root_name']!r} "
        f"({record['num_inputs']} inputs, {record['num_failures']} failed), {record['writer']}"
    )
    if info["frame_crc"]:
        print(f"{'integrity':>9}: CRC-32 of every frame checked on every read; sha256 of every file in the manifest")
    else:
        print(
            f"{'integrity':>9}: format {info['format_version']}: no frame CRC-32 or index checksums, frames are read "
            "unchecked (rebuild into a new folder to add them)"
        )
    for problem in info["problems"]:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if info["problems"] else 0


def _stored(info: dict[str, Any]) -> str:
    """``short side 256, fps native, quality 90`` from :func:`shard_info` (``?`` where the build did not record it)."""
    side, quality = info["short_side"], info["quality"]
    fps = info["fps"] or ("native" if "fps" in info["parameters"] else "?")
    return f"short side {'?' if side is None else side}, fps {fps}, quality {'?' if quality is None else quality}"


def _verify(args: argparse.Namespace) -> int:
    progress = args.full and not args.no_progress
    problems = verify_shards(args.path, samples=args.samples, full=args.full, progress=progress)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    print(f"{args.path}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sce-shards`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    args = _parser().parse_args(argv)
    try:
        return {"build": _build, "info": _info, "verify": _verify}[args.command](args)
    except (FileNotFoundError, ValueError, NoSpaceError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
