from __future__ import annotations

from pathlib import Path

import pytest

from sce_video_data.indexes import folders_index, hmdb51_index, kinetics_csv_index, list_index, ucf101_index


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_ucf101(tmp_path: Path) -> None:
    _write(tmp_path / "classInd.txt", "1 ApplyEyeMakeup\n2 HandstandPushups\n3 YoYo\n")
    _write(tmp_path / "trainlist01.txt", "YoYo/v_YoYo_g08_c01.avi 3\nApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\n")
    _write(tmp_path / "testlist01.txt", "HandStandPushups/v_HandStandPushups_g01_c01.avi\r\nYoYo/v_YoYo_g01_c01.avi\n")
    items, names = ucf101_index(tmp_path, "train", 1)
    assert names == ["ApplyEyeMakeup", "HandstandPushups", "YoYo"]
    assert items == [("YoYo/v_YoYo_g08_c01.avi", 2), ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", 0)]
    items, _ = ucf101_index(tmp_path, "test", 1)
    assert items == [("HandStandPushups/v_HandStandPushups_g01_c01.avi", 1), ("YoYo/v_YoYo_g01_c01.avi", 2)]
    _write(tmp_path / "trainlist02.txt", "YoYo/v_YoYo_g08_c01.avi 1\n")
    with pytest.raises(ValueError, match="disagrees"):
        ucf101_index(tmp_path, "train", 2)
    with pytest.raises(FileNotFoundError, match="testlist03"):
        ucf101_index(tmp_path, "test", 3)
    with pytest.raises(ValueError, match="split"):
        ucf101_index(tmp_path, "val", 1)


def test_hmdb51(tmp_path: Path) -> None:
    _write(tmp_path / "wave_test_split1.txt", "w1.avi 1 \nw2.avi 2 \nw3.avi 0 \n")
    _write(tmp_path / "brush_hair_test_split1.txt", "April_09 brush hair.avi 2\nb2.avi 1\n")
    _write(tmp_path / "wave_test_split2.txt", "w1.avi 2\n")
    items, names = hmdb51_index(tmp_path, "train", 1)
    assert names == ["brush_hair", "wave"]
    assert items == [("brush_hair/b2.avi", 0), ("wave/w1.avi", 1)]
    items, _ = hmdb51_index(tmp_path, "test", 1)
    assert items == [("brush_hair/April_09 brush hair.avi", 0), ("wave/w2.avi", 1)]
    _write(tmp_path / "bad_test_split3.txt", "x.avi 7\n")
    with pytest.raises(ValueError, match="0\\|1\\|2"):
        hmdb51_index(tmp_path, "train", 3)


def test_authors_list_format_with_spaces(tmp_path: Path) -> None:
    path = _write(tmp_path / "train.txt", "air drumming/a b.mp4 1\nabseiling/x.mp4 0\nair drumming/c.mp4 1\n")
    items, names = list_index(path)
    assert names == ["abseiling", "air drumming"]
    assert items == [("air drumming/a b.mp4", 1), ("abseiling/x.mp4", 0), ("air drumming/c.mp4", 1)]
    frames = _write(tmp_path / "frames.txt", "wave/v 0 120\n")  # frame lists carry a third column
    assert list_index(frames) == ([("wave/v", 0)], ["wave"])
    _write(tmp_path / "bad.txt", "no label here\n")
    with pytest.raises(ValueError, match="bad.txt"):
        list_index(tmp_path / "bad.txt")


def test_kinetics_csv(tmp_path: Path) -> None:
    csv = _write(
        tmp_path / "train.csv",
        'label,youtube_id,time_start,time_end,split\n"air drumming",abcdefghijk,10,20,train\n'
        "abseiling,ABCDEFGHIJK,0,10,train\nabseiling,missingvid1,0,10,train\n",
    )
    videos = tmp_path / "videos"
    _write(videos / "train/air drumming/abcdefghijk_000010_000020.mp4", "")
    _write(videos / "train/abseiling/ABCDEFGHIJK.mp4", "")
    items, names = kinetics_csv_index(csv, videos)
    assert names == ["abseiling", "air drumming"]
    assert items == [("train/air drumming/abcdefghijk_000010_000020.mp4", 1), ("train/abseiling/ABCDEFGHIJK.mp4", 0)]
    _write(tmp_path / "bad.csv", "a,b\n1,2\n")
    with pytest.raises(ValueError, match="columns"):
        kinetics_csv_index(tmp_path / "bad.csv", videos)


def test_class_folders(tmp_path: Path) -> None:
    _write(tmp_path / "b class/x.MP4", "")
    _write(tmp_path / "a/sub/y.avi", "")
    _write(tmp_path / "a/notes.txt", "")
    _write(tmp_path / ".hidden/z.mp4", "")
    items, names = folders_index(tmp_path)
    assert names == ["a", "b class"]
    assert items == [("a/sub/y.avi", 0), ("b class/x.MP4", 1)]
    with pytest.raises(FileNotFoundError):
        folders_index(tmp_path / "nope")
