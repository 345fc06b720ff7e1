"""Atomic writes: all or nothing, readable like ordinary files."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from airwarn.features.atomic import atomic_path, write_text_atomic


def test_write_is_readable_by_group_and_others(tmp_path: Path) -> None:
    p = write_text_atomic(tmp_path / "a" / "bulletin.md", "预警")
    assert p.read_text(encoding="utf-8") == "预警"
    mode = stat.S_IMODE(p.stat().st_mode)
    assert mode & stat.S_IRGRP and mode & stat.S_IROTH


def test_failed_write_leaves_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "forecast.nc"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["forecast.nc"]


def test_a_folder_as_target_is_named_and_left_alone(tmp_path: Path) -> None:
    # os.replace onto a folder failed naming the hidden temporary file
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("kept")
    with pytest.raises(IsADirectoryError) as exc:
        write_text_atomic(tmp_path / "out", "x")
    assert exc.value.filename == str(tmp_path / "out")
    assert exc.value.strerror == "is a directory; expected the path of a file to write"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["keep.txt", "out"]
