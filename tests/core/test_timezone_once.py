"""The local time zone is written once (issue 17): code takes it from ``airwarn.core.timeutil``.

Reads the source (AST) of the packages, ``bench/`` and ``scripts/``: a string constant that *is*
a zone name used as a value (``tz="Asia/Shanghai"``, ``ZoneInfo("Asia/Shanghai")``) may appear
only in :data:`HOMES` — ``timeutil.DEFAULT_TZ`` (the settings default) and
``readers.common.BEIJING_TIME`` / ``FIXED_UTC8`` (the zones file formats are defined in). Docstrings,
comments and help texts that mention the zone inside a sentence are prose, not values.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from airwarn.core.timeutil import LOCAL_OFFSET_H, LOCAL_TZ, utc_offset_hours

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("airwarn", "configs", "features", "models", "alerts", "products", "flows", "bench",
           "scripts")
ZONES = frozenset({"Asia/Shanghai", "Asia/Chongqing", "Asia/Chungking", "PRC", "Etc/GMT-8"})
HOMES = {"airwarn/core/timeutil.py": "DEFAULT_TZ, the settings default",
         "features/readers/common.py": "BEIJING_TIME / FIXED_UTC8, the zones file formats define"}


def zone_literals(source: str) -> list[tuple[int, str]]:
    """``(line, value)`` of every string constant that is exactly a China zone name."""
    tree = ast.parse(source)
    return sorted((n.lineno, n.value) for n in ast.walk(tree)
                  if isinstance(n, ast.Constant) and n.value in ZONES)


def test_zone_written_only_in_its_homes() -> None:
    bad = []
    for d in SCANNED:
        for p in sorted((ROOT / d).rglob("*.py")):
            rel = p.relative_to(ROOT).as_posix()
            if rel in HOMES:
                continue
            bad += [f"{rel}:{line}: {v!r}" for line, v in zone_literals(p.read_text("utf-8"))]
    assert not bad, ("time zone written as a value — use airwarn.core.timeutil.LOCAL_TZ / "
                     "LOCAL_ZONE (or a reader format's documented constant):\n" + "\n".join(bad))


def test_guard_sees_a_zone_value() -> None:
    assert zone_literals('t = pd.Timestamp("2026-01-20", tz="Asia/Shanghai")') == \
        [(1, "Asia/Shanghai")]
    assert zone_literals('"""Days are Asia/Shanghai days."""\nx = f"({LOCAL_TZ})"') == []


def test_local_offset_is_the_settings_zone() -> None:
    assert LOCAL_TZ == "Asia/Shanghai" and LOCAL_OFFSET_H == 8
    assert utc_offset_hours("Etc/GMT-8") == 8 and utc_offset_hours("UTC") == 0


@pytest.mark.parametrize(("zone", "why"), [("Europe/Berlin", "daylight saving"),
                                           ("Asia/Kolkata", "not whole hours")])
def test_zone_without_fixed_offset_is_refused(zone: str, why: str) -> None:
    from airwarn.configs.schema import Settings

    from airwarn import configs

    with pytest.raises(ValueError, match=why):
        utc_offset_hours(zone)
    base = configs.load_settings().model_dump()
    with pytest.raises(ValueError, match=f"timezone '{zone}'.*{why}"):
        Settings.model_validate({**base, "timezone": zone})
