"""Tests for features.qc: bits on planted defects, report, config validation, gap filling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from airwarn.configs.schema import ConfigError
from airwarn.features.qc import (
    QC_DUPLICATE,
    QC_GAP_FILLED,
    QC_NEGATIVE,
    QC_PM_RATIO,
    QC_RANGE,
    QC_SPIKE,
    QC_STUCK,
    QC_UNIT,
    describe_qc,
    fill_gaps,
    load_qc_config,
    run_qc,
    valid_mask,
    var_bits,
    var_flags,
)

STATIONS = pd.DataFrame({"station_id": ["a", "b", "c", "d"],
                         "sub_region": ["chengdu", "chengdu", "chengdu", "deyang"]})
T0 = pd.Timestamp("2026-01-10T00:00Z")


def _clean(hours: int = 72) -> pd.DataFrame:
    t = pd.date_range(T0, periods=hours, freq="h")
    h = np.arange(hours)
    parts = []
    for k, s in enumerate(STATIONS["station_id"]):
        base = 60 + 20 * np.sin(2 * np.pi * h / 24) + 3 * k + 0.37 * np.sin(1.7 * h + k)
        parts.append(pd.DataFrame({
            "time": t, "station_id": s, "pm25": base, "pm10": base * 1.5,
            "o3": 50 + 30 * np.sin(2 * np.pi * (h - 6) / 24) + 0.29 * np.cos(1.3 * h + k),
            "no2": 30 + 0.5 * np.sin(h + k), "so2": 8 + 0.1 * np.cos(h * 0.7 + k),
            "co": 0.9 + 0.01 * np.sin(h * 0.9 + k), "qc": 0}))
    return pd.concat(parts, ignore_index=True)


def _at(df, hour, sid):
    m = (df["time"] == T0 + pd.Timedelta(hours=hour)) & (df["station_id"] == sid)
    return int(np.flatnonzero(m.to_numpy())[0])


def test_clean_data_has_no_flags():
    flagged, report = run_qc(_clean(), STATIONS)
    assert (flagged["qc"] == 0).all()
    assert report["n_flagged_rows"].sum() == 0
    assert report.set_index("station_id").loc["a", "avail_pm25"] == 1.0


def test_planted_defects_set_their_bits():
    df = _clean()
    df.loc[_at(df, 5, "a"), "no2"] = -4.0                     # negative
    df.loc[_at(df, 6, "a"), "so2"] = 5000.0                   # out of range
    for h in range(20, 28):                                   # stuck for 8 h
        df.loc[_at(df, h, "a"), "o3"] = 77.0
    df.loc[_at(df, 40, "b"), "pm25"] += 250.0                 # spike vs own series and neighbours
    df.loc[_at(df, 40, "b"), "pm10"] += 400.0
    df.loc[_at(df, 50, "c"), "pm25"] = df.loc[_at(df, 50, "c"), "pm10"] + 30  # PM2.5 > PM10
    df.loc[df["station_id"] == "d", "co"] *= 1000.0           # CO in µg/m³
    df.loc[_at(df, 3, "b"), "qc"] = var_bits("no2", QC_DUPLICATE)  # from a reader: kept
    flagged, report = run_qc(df, STATIONS)
    q = flagged["qc"].to_numpy()
    assert var_flags(q, "no2")[_at(flagged, 5, "a")] & QC_NEGATIVE
    assert var_flags(q, "no2")[_at(flagged, 5, "a")] & QC_RANGE   # below range min 0 as well
    assert var_flags(q, "so2")[_at(flagged, 6, "a")] & QC_RANGE
    stuck = [bool(var_flags(q, "o3")[_at(flagged, h, "a")] & QC_STUCK) for h in range(18, 30)]
    assert stuck == [False] * 2 + [True] * 8 + [False] * 2
    assert var_flags(q, "pm25")[_at(flagged, 40, "b")] & QC_SPIKE
    assert var_flags(q, "pm25")[_at(flagged, 50, "c")] == QC_PM_RATIO
    assert var_flags(q, "pm10")[_at(flagged, 50, "c")] == QC_PM_RATIO
    d = flagged["station_id"] == "d"
    assert (var_flags(q[d.to_numpy()], "co") & QC_UNIT).all()
    assert var_flags(q, "no2")[_at(flagged, 3, "b")] == QC_DUPLICATE
    # values are never changed by QC
    assert flagged.loc[_at(flagged, 40, "b"), "pm25"] == df.loc[_at(df, 40, "b"), "pm25"]
    assert not valid_mask(flagged, "pm25")[_at(flagged, 40, "b")]
    # nothing else flagged: count the flagged (row, variable) pairs
    n_flags = sum(int((var_flags(q, v) != 0).sum()) for v in
                  ("pm25", "pm10", "o3", "no2", "so2", "co"))
    assert n_flags == 1 + 1 + 8 + 2 + 2 + 72 + 1  # spike at b also hits pm10 (+1)
    rep = report.set_index("station_id")
    assert rep.loc["a", "n_stuck"] == 8 and rep.loc["d", "n_unit"] == 72
    assert rep.loc["a", "sub_region"] == "chengdu" and rep.loc["a", "hours"] == 72
    # running again gives the same bits (computed checks are recomputed, reader bits kept)
    again, _ = run_qc(flagged, STATIONS)
    assert (again["qc"].to_numpy() == q).all()


def test_describe_and_config_errors(tmp_path):
    assert describe_qc(var_bits("pm25", QC_SPIKE) | var_bits("co", QC_UNIT)) == \
        ["pm25:spike", "co:unit"]
    cfg = load_qc_config()
    assert cfg.stuck.hours >= 2
    bad = tmp_path / "qc.yaml"
    text = (__import__("configs").CONFIG_DIR / "qc.yaml").read_text(encoding="utf-8")
    bad.write_text(text.replace("hours: 6", "hours: 1"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"stuck.hours"):
        load_qc_config(bad)


def test_fill_gaps_short_only():
    df = _clean(12)
    a = df[df["station_id"] == "a"].copy()
    a = a.drop(index=a.index[[3, 4]])             # 2-hour gap: filled
    a.loc[a.index[5:8], "o3"] = np.nan            # hours 7–9: 3-hour gap in o3, not filled
    out = fill_gaps(a, max_hours=2)
    assert len(out) == 12
    row = out[out["time"] == T0 + pd.Timedelta(hours=3)].iloc[0]
    assert var_flags(np.array([row.qc]), "pm25")[0] == QC_GAP_FILLED
    before, after = a.loc[a.index[2], "pm25"], a.loc[a.index[3], "pm25"]
    assert row.pm25 == pytest.approx(before + (after - before) / 3)
    assert out["o3"].isna().sum() == 3


def test_demo_world_defects_are_found(demo_world):
    """Recall on the demo world's planted defects, and few flags on clean values."""
    from airwarn.features.store import POLLUTANTS, read_obs

    obs = read_obs(demo_world.data_dir)
    defects = pd.read_csv(demo_world.data_dir / "demo" / "defects.csv")
    flagged, _ = run_qc(obs.assign(qc=0), demo_world.stations)
    times = pd.DatetimeIndex(sorted(flagged["time"].unique()))
    sids = pd.Index(sorted(flagged["station_id"].unique()))
    ti, si = times.get_indexer(flagged["time"]), sids.get_indexer(flagged["station_id"])
    shape = (len(times), len(sids))
    flag, present = {}, {}
    for v in POLLUTANTS:
        flag[v], present[v] = np.zeros(shape, bool), np.zeros(shape, bool)
        flag[v][ti, si] = var_flags(flagged["qc"], v) != 0
        present[v][ti, si] = flagged[v].notna().to_numpy()
    in_defect = {v: np.zeros(shape, bool) for v in POLLUTANTS}
    hit: dict[str, int] = {}
    total: dict[str, int] = {}
    for d in defects.itertuples(index=False):
        j = sids.get_loc(d.station_id)
        a = times.searchsorted(pd.Timestamp(d.start))
        b = times.searchsorted(pd.Timestamp(d.end), side="right")
        for v in (POLLUTANTS if d.variable == "all" else (d.variable,)):
            in_defect[v][a:b, j] = True
        if d.variable == "all":
            continue
        ok = present[d.variable][a:b, j]
        total[d.kind] = total.get(d.kind, 0) + int(ok.sum())
        hit[d.kind] = hit.get(d.kind, 0) + int((flag[d.variable][a:b, j] & ok).sum())
    assert set(total) >= {"spike", "negative", "stuck"}
    for kind in total:
        assert hit[kind] / total[kind] >= 0.85, (kind, hit[kind], total[kind])
    for v in POLLUTANTS:
        clean = present[v] & ~in_defect[v]
        assert flag[v][clean].mean() < 0.01, (v, flag[v][clean].mean())


def test_sensor_stuck_for_the_whole_batch_is_flagged():
    df = _clean(24)
    df.loc[df["station_id"] == "a", "pm25"] = 42.0  # one day file, a dead PM2.5 analyser
    flagged, report = run_qc(df, STATIONS)
    a = (flagged["station_id"] == "a").to_numpy()
    assert (var_flags(flagged["qc"], "pm25")[a] & QC_STUCK != 0).all()
    assert (var_flags(flagged["qc"], "pm25")[~a] & QC_STUCK == 0).all()
