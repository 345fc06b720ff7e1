"""The AQI probability thresholds and the verification's fallback ladder come from the ladder file
(configs/warning/national-2024.yaml) — written once — and reproduce domain-spec T2.1 (2024)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from airwarn.configs.warning_schema import aqi_thresholds, ladder_day_clauses

ROOT = Path(__file__).resolve().parents[2]


def test_probability_thresholds_are_the_national_cuts() -> None:
    from airwarn.models.forecast import AQI_THRESHOLDS

    assert aqi_thresholds() == (150, 200, 300) == AQI_THRESHOLDS
    assert aqi_thresholds("chongqing-2022")[0] == 200  # another ladder gives its own cuts


# domain-spec T2.1, MEE 2024 (环大气〔2024〕6号): yellow 日AQI > 200, or > 150 for ≥ 48 h;
# orange > 200 for 48 h, or > 150 for ≥ 72 h; red > 200 for 72 h and > 300 for ≥ 24 h.
VECTORS = [
    ([120, 140, 149], "none"),
    ([151, 120, 151], "none"),
    ([201, 100, 100], "yellow"),
    ([160, 160, 100], "yellow"),
    ([100, 151, 151], "yellow"),
    ([201, 201, 100], "orange"),
    ([151, 151, 151], "orange"),
    ([201, 201, 201], "orange"),
    ([201, 201, 301], "red"),
    ([301, 201, 201], "red"),
    ([301, 301, 150], "orange"),
]


@pytest.mark.parametrize(("aqi", "level"), VECTORS)
def test_fallback_ladder_matches_the_spec_vectors(aqi: list[float], level: str) -> None:
    from airwarn.configs.verification_schema import load_verification
    from airwarn.models.verify.warning_verify import fallback_level

    assert fallback_level(np.array(aqi, dtype=float), load_verification()) == level


@pytest.mark.parametrize(("aqi", "level"), VECTORS)
def test_fallback_ladder_agrees_with_the_ladder_engine(aqi: list[float], level: str) -> None:
    from airwarn.alerts.ladders import evaluate_ladder
    from airwarn.configs.warning_schema import load_ladder

    ladder = load_ladder("national-2024")
    res = evaluate_ladder(ladder, np.array(aqi, dtype=float))
    assert res.level == level


def test_no_copy_of_the_ladder_or_thresholds_left() -> None:
    clauses = ladder_day_clauses("national-2024")
    assert clauses["red"] == [{"gt": 200.0, "days": 3, "and_gt": 300.0, "and_days": 1}]
    text = (ROOT / "configs" / "verification.yaml").read_text(encoding="utf-8")
    assert "\n  yellow:" not in text and "{gt: 200" not in text
    for rel in ("alerts/warning.py", "products/report.py", "models/verify/synthetic.py",
                "models/forecast.py"):
        src = (ROOT / rel).read_text(encoding="utf-8")
        assert "(150, 200, 300)" not in src, rel


def test_cached_policy_and_cuts_follow_the_files(tmp_path, monkeypatch) -> None:
    """The policy and the AQI cuts are parsed once per file and modification time (the warning
    chain asks for them per unit and day): a changed policy file is read again, and a caller
    changing its copy does not change the next one."""
    import os
    import shutil

    from airwarn.configs.warning_schema import load_warning_policy

    cfg = tmp_path / "configs"
    shutil.copytree(ROOT / "configs", cfg)
    monkeypatch.setenv("AIRWARN_CONFIG_DIR", str(cfg))
    assert aqi_thresholds() == (150, 200, 300)
    pol = load_warning_policy()
    assert pol.default_ladder == "national-2024"
    pol.default_ladder = "chongqing-2022"  # the caller's copy only
    assert load_warning_policy().default_ladder == "national-2024"
    f = cfg / "warning" / "policy.yaml"
    f.write_text(f.read_text(encoding="utf-8").replace("default_ladder: national-2024",
                                                       "default_ladder: chongqing-2022"),
                 encoding="utf-8")
    st = f.stat()
    os.utime(f, (st.st_atime, st.st_mtime + 5))
    assert load_warning_policy().default_ladder == "chongqing-2022"
    assert aqi_thresholds() == (200, 300)  # the 2022 Chongqing ladder's cuts
