"""Dataset indexes: which files a split holds, with their labels (UCF101, HMDB51, Kinetics, class folders, images)."""

from sce_video_data.indexes.videos import folders_index, hmdb51_index, kinetics_csv_index, list_index, ucf101_index

__all__ = ["folders_index", "hmdb51_index", "kinetics_csv_index", "list_index", "ucf101_index"]
