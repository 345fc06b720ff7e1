"""features.calendar: Chinese holidays with the 2027+ fallback."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from airwarn.features.calendar import calendar_features, holiday_source, is_holiday, spring_festival


def test_official_schedule_and_adjusted_working_days() -> None:
    assert is_holiday(dt.date(2026, 10, 1))  # National Day
    assert not is_holiday(dt.date(2015, 1, 4))  # Sunday made a working day (调休)
    assert holiday_source([dt.date(2026, 12, 30)]) == "chinese_calendar"


def test_2027_falls_back_to_holidays_package() -> None:
    days = [dt.date(2026, 12, 30), dt.date(2027, 1, 1), dt.date(2027, 2, 6)]
    assert holiday_source(days) == "chinese_calendar+holidays.China"
    assert is_holiday(dt.date(2027, 1, 1)) and is_holiday(dt.date(2027, 2, 8))
    assert not is_holiday(dt.date(2027, 1, 5))
    assert spring_festival(2027) == dt.date(2027, 2, 6)
    f = calendar_features(pd.DatetimeIndex(["2026-12-30 15:00", "2027-01-02 10:00",
                                            "2027-02-06 00:00"]))
    assert list(f["holiday"]) == [0, 1, 1]
    assert f["sf_days"].iloc[2] == 0 and f["hour"].iloc[0] == 15
