"""Version of the sce-retrieval distribution."""

__version__ = "0.1.0"
