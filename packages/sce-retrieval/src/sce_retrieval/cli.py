"""The ``sce-retrieval`` command: R@k and weighted k-NN accuracy of a query bank against a bank (SPEC 5.5).

Example::

    sce-retrieval --query val_bank.npz --bank train_bank.npz --ks 1 5 10 20 50 --json retrieval.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from sce_retrieval.__about__ import __version__
from sce_retrieval.atomic import atomic_write
from sce_retrieval.bank import FeatureBank, check_same_classes
from sce_retrieval.exact_search import BACKENDS, resolve_backend, search_prepared
from sce_retrieval.inputs import check_k, check_ks
from sce_retrieval.knn import check_temperature, knn_vote
from sce_retrieval.plot import plot_neighbours
from sce_retrieval.provenance import retrieval_provenance
from sce_retrieval.recall import DEFAULT_KS, recall_from_neighbours
from sce_retrieval.transform import RowTransform, make_transform


class _HelpFormatter(argparse.HelpFormatter):
    """Help texts with ``(required)`` or ``(default: X)`` appended where it says something.

    No default is shown for required options, options without one, on/off switches (their help says what the
    default does) and texts that already mention their default.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if action.required:
            return f"{text} (required)"
        if default is None or default is argparse.SUPPRESS or isinstance(default, bool) or "%(default)" in text:
            return text
        shown = " ".join(map(str, default)) if isinstance(default, list | tuple) else "%(default)s"
        return f"{text} (default: {shown})"


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (its help is the command's documentation)."""
    parser = argparse.ArgumentParser(
        prog="sce-retrieval",
        description=(
            "Retrieval recall@k and weighted k-NN accuracy of QUERY features against BANK features, following the "
            "SCE protocol (SPEC 5.5): each set is centred on its own mean and L2-normalised, similarity is cosine, "
            "and a query is a hit at k when any of its k nearest bank items has its label. Bank files are written "
            "by sce_retrieval.FeatureBank.save or `sce extract-features` (.npz, no pickles). Collapsed (constant) "
            "features, rows that are zero after centring, and banks with different class names are refused "
            "(exit status 2)."
        ),
        formatter_class=_HelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}", help="print the version and exit"
    )
    parser.add_argument(
        "--query", required=True, metavar="QUERY.npz", help="query bank file (e.g. the test-split features)"
    )
    parser.add_argument(
        "--bank", required=True, metavar="BANK.npz", help="bank file searched (e.g. the train-split features)"
    )
    parser.add_argument(
        "--ks", type=int, nargs="+", default=list(DEFAULT_KS), metavar="K", help="k values of R@k (each k <= bank size)"
    )
    parser.add_argument(
        "--knn-k", type=int, default=20, metavar="K", help="neighbours voting in the k-NN classifier (0: skip k-NN)"
    )
    parser.add_argument(
        "--knn-temperature", type=float, default=0.07, metavar="T", help="k-NN vote temperature T, weights exp(sim/T)"
    )
    parser.add_argument("--backend", choices=BACKENDS, default="auto", help="search backend (auto: FAISS if installed)")
    parser.add_argument("--device", default="auto", metavar="DEVICE", help="'auto', 'cpu' or 'cuda'")
    parser.add_argument(
        "--center",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="centre each set on its own mean before R@k and k-NN (on by default; --no-center turns it off)",
    )
    parser.add_argument(
        "--normalize",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="L2-normalise every row, i.e. cosine similarity (on by default; --no-normalize: raw inner products)",
    )
    parser.add_argument(
        "--json",
        metavar="OUT.json",
        help="also write the results as JSON (atomically), with their provenance (both banks' sha256 and the "
        "provenance hash their writer stored, backend, versions)",
    )
    parser.add_argument("--plot", metavar="OUT.png", help="draw queries and their neighbours (needs thumbnails)")
    parser.add_argument("--plot-queries", type=int, default=8, metavar="N", help="queries drawn by --plot")
    parser.add_argument(
        "--plot-neighbours", type=int, default=5, metavar="N", help="neighbours per query drawn by --plot"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (0 on success, 2 on bad input).

    Bad input (a file that is not a bank, banks that cannot be compared, collapsed or degenerate features, bad
    options, a file that cannot be written) prints one line ``sce-retrieval: error: ...`` on stderr.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status.
    """
    args = build_parser().parse_args(argv)
    try:
        result = run(args)
    except (ValueError, OSError, ImportError, RuntimeError) as err:
        print(f"sce-retrieval: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    print(format_table(result))
    return 0


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Load both banks, search once, and compute R@k, k-NN accuracy, the JSON file and the picture."""
    queries, bank = load_pair(args)
    ks = check_ks(args.ks, len(bank))
    knn_k = check_k(args.knn_k, len(bank), name="--knn-k") if args.knn_k != 0 else 0
    check_temperature(args.knn_temperature)
    plot_k = min(args.plot_neighbours, len(bank)) if args.plot else 1
    plan = resolve_backend(args.backend, args.device, k=max(ks[-1], knn_k, plot_k))
    start = time.perf_counter()
    scores, indices = search_prepared(
        queries.features,
        bank.features,
        max(ks[-1], knn_k, plot_k),
        metric="ip",
        query_transform=_transform(queries, args, f"query {args.query}", bank=False),
        bank_transform=_transform(bank, args, f"bank {args.bank}", bank=True),
        plan=plan,
    )
    recall = recall_from_neighbours(indices, queries.labels, bank.labels, ks)
    result: dict[str, Any] = {
        "query": str(args.query),
        "bank": str(args.bank),
        "num_queries": len(queries),
        "num_bank": len(bank),
        "dim": bank.dim,
        "backend": plan.backend,
        "device": plan.device,
        "center": args.center,
        "normalize": args.normalize,
        "recall": {str(k): v for k, v in recall.items()},
    }
    if knn_k:
        predictions = knn_vote(scores[:, :knn_k], indices[:, :knn_k], bank.labels, temperature=args.knn_temperature)
        accuracy = float((predictions == queries.labels).mean())
        result["knn"] = {"k": knn_k, "temperature": args.knn_temperature, "accuracy": accuracy}
    result["seconds"] = round(time.perf_counter() - start, 3)
    if args.json:
        result["provenance"] = retrieval_provenance(
            (args.query, queries), (args.bank, bank), plan.backend, str(plan.device)
        )
        text = json.dumps(result, indent=2) + "\n"
        atomic_write(args.json, lambda f: f.write(text.encode()))
    if args.plot:
        plot_neighbours(queries, bank, scores, indices, args.plot, num_queries=args.plot_queries, num_neighbours=plot_k)
    return result


def _transform(source: FeatureBank, args: argparse.Namespace, name: str, *, bank: bool) -> RowTransform:
    """The set's centring/normalisation; refuses collapsed or degenerate features (ValueError naming the set)."""
    return make_transform(source.features, center=args.center, normalize=args.normalize, name=name, bank=bank)


def load_pair(args: argparse.Namespace) -> tuple[FeatureBank, FeatureBank]:
    """Load the query and bank files and check that they can be compared (and plotted when asked)."""
    queries, bank = FeatureBank.load(args.query), FeatureBank.load(args.bank)
    if queries.dim != bank.dim:
        raise ValueError(f"{args.query} has dimension {queries.dim} but {args.bank} has dimension {bank.dim}")
    check_same_classes(queries.class_names, bank.class_names, f"query {args.query}", f"bank {args.bank}")
    for path, b in ((args.query, queries), (args.bank, bank)):
        if len(b) == 0:
            raise ValueError(f"{path}: the bank is empty")
        if args.plot and b.thumbnails is None:
            raise ValueError(f"--plot needs thumbnails, but {path} has no field 'thumbnails'")
    if args.plot and (args.plot_queries < 1 or args.plot_neighbours < 1):
        raise ValueError("--plot-queries and --plot-neighbours must be positive")
    return queries, bank


def format_table(result: dict[str, Any]) -> str:
    """Human-readable table of a :func:`run` result (percentages)."""
    prep = " + ".join(n for n, on in (("centred", result["center"]), ("L2-normalised", result["normalize"])) if on)
    lines = [
        f"queries: {result['num_queries']:,} ({result['query']})   bank: {result['num_bank']:,} ({result['bank']})",
        f"dim {result['dim']}, {prep or 'raw features'}, {'cosine' if result['normalize'] else 'inner product'}; "
        f"{result['backend']} on {result['device']}, "
        f"{result['seconds']:.2f} s",
        "",
        f"{'metric':<28}{'value':>8}",
        "-" * 36,
    ]
    lines += [f"{'R@' + k:<28}{100 * v:>7.2f}%" for k, v in result["recall"].items()]
    if "knn" in result:
        knn = result["knn"]
        name = f"k-NN top-1 (k={knn['k']}, T={knn['temperature']:g})"
        lines.append(f"{name:<28}{100 * knn['accuracy']:>7.2f}%")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
