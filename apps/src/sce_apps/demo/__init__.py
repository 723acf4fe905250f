"""The one-command demo: an embedded real-video dataset, pretraining, retrieval."""
