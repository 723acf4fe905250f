"""sce-video-data: PyAV decoding, FFCV-style video shards, clip sampling, a resumable sampler and augmentations."""

from sce_video_data import transforms as _transforms
from sce_video_data.__about__ import __version__
from sce_video_data.batch_buffers import release_batch_buffers
from sce_video_data.clip_sampling import (
    clip_frame_indices,
    clip_frame_range,
    random_clip_starts,
    uniform_clip_starts,
    uniform_temporal_subsample,
)
from sce_video_data.datasets import ClipSampling, ShardVideoDataset, VideoFileDataset
from sce_video_data.decoding import VideoFile, VideoInfo, iter_frames, probe, read_frames
from sce_video_data.image_dataset import ShardImageDataset
from sce_video_data.indexes import folders_index, hmdb51_index, kinetics_csv_index, list_index, ucf101_index
from sce_video_data.item_encoding import EncodeParams, encode_video_item
from sce_video_data.sampler import ResumableDistributedSampler
from sce_video_data.shard_build import BuildReport, build_shards
from sce_video_data.shard_check import load_manifest, shard_info, verify_shards
from sce_video_data.shard_reader import ItemInfo, ShardReader, decode_jpeg_frame, decode_jpegs
from sce_video_data.shard_writer import EncodedItem, ShardWriter
from sce_video_data.transforms import *  # noqa: F403

__all__ = [
    "BuildReport",
    "ClipSampling",
    "EncodeParams",
    "EncodedItem",
    "ItemInfo",
    "ResumableDistributedSampler",
    "ShardReader",
    "ShardImageDataset",
    "ShardVideoDataset",
    "ShardWriter",
    "VideoFile",
    "VideoFileDataset",
    "VideoInfo",
    "__version__",
    "build_shards",
    "clip_frame_indices",
    "clip_frame_range",
    "decode_jpeg_frame",
    "decode_jpegs",
    "encode_video_item",
    "folders_index",
    "hmdb51_index",
    "iter_frames",
    "kinetics_csv_index",
    "list_index",
    "load_manifest",
    "probe",
    "random_clip_starts",
    "read_frames",
    "release_batch_buffers",
    "shard_info",
    "ucf101_index",
    "uniform_clip_starts",
    "uniform_temporal_subsample",
    "verify_shards",
]
__all__ += list(_transforms.__all__)
