"""Tests for features.store: canonical observation store (real Parquet files in tmp_path)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from airwarn.features.store import (
    OBS_COLUMNS,
    ObsSchemaError,
    empty_obs,
    obs_files,
    read_obs,
    write_obs,
)


def _obs(start: str = "2026-01-31 22:00", hours: int = 4,
         stations: tuple[str, ...] = ("1431A", "1432A")) -> pd.DataFrame:
    t = pd.date_range(start, periods=hours, freq="h", tz="UTC")
    n = hours * len(stations)
    df = pd.DataFrame({"time": np.repeat(t, len(stations)),
                       "station_id": list(stations) * hours})
    for k, p in enumerate(["pm25", "pm10", "o3", "no2", "so2"]):
        df[p] = np.arange(n, dtype=float) + 10 * k
    df["co"] = 0.8
    df["qc"] = 0
    return df


def test_write_splits_by_utc_month_and_reads_back(tmp_path):
    df = _obs()
    rep = write_obs(df, tmp_path)
    assert (rep.rows_in, rep.added, rep.replaced, rep.unchanged) == (8, 8, 0, 0)
    assert [p.name for p in obs_files(tmp_path)] == ["2026-01.parquet", "2026-02.parquet"]
    back = read_obs(tmp_path)
    assert list(back.columns) == list(OBS_COLUMNS)
    assert str(back["time"].dtype) == "datetime64[ns, UTC]"
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    jan = pd.read_parquet(tmp_path / "obs" / "2026-01.parquet")
    assert len(jan) == 4 and jan["time"].max() == pd.Timestamp("2026-01-31 23:00", tz="UTC")


def test_second_write_is_idempotent_and_writes_no_file(tmp_path):
    df = _obs()
    write_obs(df, tmp_path)
    mtimes = {p: p.stat().st_mtime_ns for p in obs_files(tmp_path)}
    rep = write_obs(df.sample(frac=1, random_state=1), tmp_path)
    assert (rep.added, rep.replaced, rep.unchanged, rep.files) == (0, 0, 8, [])
    assert {p: p.stat().st_mtime_ns for p in obs_files(tmp_path)} == mtimes


def test_changed_values_replace_and_are_counted(tmp_path):
    df = _obs()
    df.loc[0, "pm25"] = np.nan  # NaN == NaN counts as unchanged on the second write
    write_obs(df, tmp_path)
    corrected = df.copy()
    corrected.loc[5, "pm25"] = 999.0
    corrected.loc[6, "qc"] = 4
    extra = _obs(start="2026-02-01 02:00", hours=1)
    rep = write_obs(pd.concat([corrected, extra], ignore_index=True), tmp_path)
    assert (rep.added, rep.replaced, rep.unchanged) == (2, 2, 6)
    assert [p.name for p in rep.files] == ["2026-02.parquet"]
    back = read_obs(tmp_path)
    assert len(back) == 10
    assert back.loc[5, "pm25"] == 999.0 and back.loc[6, "qc"] == 4
    assert np.isnan(back.loc[0, "pm25"])


def test_read_filters_inclusive_bounds_and_stations(tmp_path):
    write_obs(_obs(hours=6), tmp_path)
    got = read_obs(tmp_path, start=pd.Timestamp("2026-02-01 00:00", tz="Asia/Shanghai"),
                   end="2026-02-01T01:00+00:00", station_ids=["1432A"])
    assert got["time"].tolist() == list(pd.date_range("2026-01-31 22:00", periods=4, freq="h",
                                                      tz="UTC"))
    assert set(got["station_id"]) == {"1432A"}
    with pytest.raises(ValueError, match="tz-aware"):
        read_obs(tmp_path, start="2026-02-01")


def test_empty_store_gives_empty_canonical_frame(tmp_path):
    got = read_obs(tmp_path / "nothing")
    assert got.empty and list(got.columns) == list(OBS_COLUMNS)
    assert got.dtypes.equals(empty_obs().dtypes)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.drop(columns="co"), r"missing column\(s\) \['co'\]"),
    (lambda d: d.assign(extra=1), r"unexpected column\(s\) \['extra'\]"),
    (lambda d: d.assign(time=d["time"].dt.tz_localize(None)), "'time' must be tz-aware"),
    (lambda d: d.assign(station_id=1431), "'station_id' must be a non-empty str"),
    (lambda d: d.assign(pm25=d["pm25"].astype(str)), "'pm25' must be float"),
    (lambda d: d.assign(qc=0.5), "'qc' must be integer"),
    (lambda d: pd.concat([d, d.iloc[:1]]), r"share a \(time, station_id\) key"),
])
def test_bad_input_names_column_and_writes_nothing(tmp_path, mutate, message):
    write_obs(_obs(), tmp_path)
    before = {p: p.read_bytes() for p in obs_files(tmp_path)}
    with pytest.raises(ObsSchemaError, match=message):
        write_obs(mutate(_obs(start="2026-03-01")), tmp_path)
    assert {p: p.read_bytes() for p in obs_files(tmp_path)} == before
    assert not any(p.name.endswith(".tmp") for p in (tmp_path / "obs").iterdir())


def test_corrupt_month_file_fails_before_any_file_changes(tmp_path):
    write_obs(_obs(start="2026-02-27"), tmp_path)
    (tmp_path / "obs" / "2026-03.parquet").write_bytes(b"not parquet")
    before = (tmp_path / "obs" / "2026-02.parquet").read_bytes()
    # the new rows span Feb (valid file) and Mar (corrupt file): nothing may be written
    new = _obs(start="2026-02-28 22:00", hours=4)
    with pytest.raises(ObsSchemaError, match="2026-03.parquet: cannot read"):
        write_obs(new, tmp_path)
    assert (tmp_path / "obs" / "2026-02.parquet").read_bytes() == before


def test_met_cycle_and_analysis_grid_check(tmp_path):
    import xarray as xr
    from airwarn.features.store import write_met_analysis, write_met_cycle

    t = pd.date_range("2026-01-15T00:00", periods=3, freq="h")
    ds = xr.Dataset({"t2m": (("time", "latitude", "longitude"), np.full((3, 2, 2), 280.0))},
                    coords={"time": t, "latitude": [30.0, 31.0], "longitude": [104.0, 105.0]},
                    attrs={"forecast_reference_time": "2026-01-14T12:00:00+00:00"})
    p = write_met_cycle(ds, tmp_path)
    assert p == tmp_path / "met" / "cycles" / "2026011412.nc"
    with xr.open_dataset(p) as got:
        assert got["step"].values.tolist() == [12, 13, 14]
        assert got.attrs["forecast_reference_time"] == "2026-01-14T12:00:00+00:00"
    write_met_analysis(ds, tmp_path)
    other = ds.assign_coords(latitude=[30.5, 31.5])
    with pytest.raises(ValueError, match="2026-01.nc: stored grid differs"):
        write_met_analysis(other, tmp_path)
    curv = ds.rename({"latitude": "y", "longitude": "x"})
    with pytest.raises(ValueError, match="regular"):
        write_met_analysis(curv, tmp_path)
