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
