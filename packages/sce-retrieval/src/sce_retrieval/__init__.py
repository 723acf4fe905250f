"""sce-retrieval: feature banks, exact k-NN search (FAISS or torch), recall@k and weighted k-NN classification.

Public API:

* :class:`FeatureBank`: features, labels, ids, class names, metadata and thumbnails in one pickle-free file.
* :func:`search`: exact k-nearest-neighbour search (FAISS GPU/CPU or blocked torch), deterministic tie rule.
* :func:`resolve_backend`: which backend/device ``backend="auto"`` picks.
* :func:`recall_at_k`: retrieval R@k, the authors' protocol (SPEC 5.5).
* :func:`knn_classify` / :func:`knn_accuracy`: the weighted k-NN classifier (votes ``exp(similarity / T)``).
"""

from sce_retrieval.__about__ import __version__
from sce_retrieval.bank import FeatureBank
from sce_retrieval.exact_search import Plan, resolve_backend, search
from sce_retrieval.knn import knn_accuracy, knn_classify
from sce_retrieval.recall import DEFAULT_KS, recall_at_k

__all__ = [
    "DEFAULT_KS",
    "FeatureBank",
    "Plan",
    "__version__",
    "knn_accuracy",
    "knn_classify",
    "recall_at_k",
    "resolve_backend",
    "search",
]
