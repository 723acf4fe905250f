"""``sce extract-features``: multi-view trunk features of every video of a split, as sce-retrieval banks."""

from sce_apps.extract.program import ExtractConfig, extract

__all__ = ["ExtractConfig", "extract"]
