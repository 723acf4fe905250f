"""sce-video-data: PyAV decoding, FFCV-style video shards, clip sampling, a resumable sampler and augmentations."""

from sce_video_data import transforms as _transforms
from sce_video_data.__about__ import __version__
from sce_video_data.codecs.jpeg import decode_jpeg_frame, decode_jpegs
from sce_video_data.codecs.video import VideoFile, VideoInfo, iter_frames, probe, read_frames
from sce_video_data.indexes import folders_index, hmdb51_index, kinetics_csv_index, list_index, ucf101_index
from sce_video_data.loading.batch_sampler import BatchRequest, ResumableBatchSampler
from sce_video_data.loading.batches import PendingBatch, finish_batch
from sce_video_data.loading.clip_sampling import (
    clip_frame_indices,
    clip_frame_range,
    random_clip_starts,
    uniform_clip_starts,
    uniform_temporal_subsample,
)
from sce_video_data.loading.datasets import ClipSampling, ShardVideoDataset, VideoFileDataset
from sce_video_data.loading.images import ShardImageDataset
from sce_video_data.loading.loader import BatchLoader
from sce_video_data.loading.plans import ClipPlan, SamplePlan
from sce_video_data.loading.sampler import ResumableDistributedSampler
from sce_video_data.shards.build import BuildReport, build_shards
from sce_video_data.shards.check import load_manifest, shard_info, verify_shards
from sce_video_data.shards.encoding import EncodeParams, encode_video_item
from sce_video_data.shards.format import ShardDamageError
from sce_video_data.shards.provenance import content_hash, shard_provenance
from sce_video_data.shards.reader import ItemInfo, ShardReader
from sce_video_data.shards.writer import EncodedItem, ShardWriter
from sce_video_data.transforms import *  # noqa: F403

__all__ = [
    "BatchLoader",
    "BatchRequest",
    "BuildReport",
    "ClipPlan",
    "PendingBatch",
    "ResumableBatchSampler",
    "SamplePlan",
    "finish_batch",
    "ClipSampling",
    "EncodeParams",
    "EncodedItem",
    "ItemInfo",
    "ResumableDistributedSampler",
    "ShardDamageError",
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
    "content_hash",
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
    "shard_info",
    "shard_provenance",
    "ucf101_index",
    "uniform_clip_starts",
    "uniform_temporal_subsample",
    "verify_shards",
]
__all__ += list(_transforms.__all__)
