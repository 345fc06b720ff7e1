"""GRIB2 NWP cycles: reader, writer, cycle store and catalog, checks, and `airwarn ingest`.

Files are real GRIB: the cfgrib sample files in tests/data/grib (ECMWF, Apache-2.0) and GRIB2
written here with ecCodes' own ``GRIB2`` sample (features.readers.grib.write_grib2), in the IFS
open-data encoding (tp in m and ssrd in J m-2 from the start, tcc in %) and the GFS one (6-h
buckets, ssrd as a W m-2 average, one file per step).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from airwarn.features.met_checks import check_coverage, d3_end_step
from airwarn.features.met_cycles import complete_cycles, cycle_catalog, read_cycle, store_cycles
from airwarn.features.readers.grib import (
    read_grib2,
    read_grib2_cycles,
    scan_grib,
    write_grib2,
    write_grib2_steps,
)
from airwarn.features.readers.met import MetReaderError
from airwarn.features.readers.registry import detect_format
from airwarn.flows.cli import app
from typer.testing import CliRunner

GRIB = Path(__file__).resolve().parents[1] / "data" / "grib"
runner = CliRunner()
REF = pd.Timestamp("2026-01-20T00:00")


LAT, LON = np.arange(26.0, 34.01, 0.5), np.arange(101.0, 111.01, 0.5)


def cycle(steps=range(0, 97, 3), lat=LAT, lon=LON, ref=REF, seed=0) -> xr.Dataset:
    """A store cycle (rates over each step window) with plausible random fields."""
    st = np.array(list(steps))
    rng = np.random.default_rng(seed)
    sh = (st.size, lat.size, lon.size)
    d = {"t2m": 280 + 5 * np.sin(st / 24 * 2 * np.pi)[:, None, None] + rng.normal(0, 1, sh),
         "d2m": 274 + rng.normal(0, 1, sh), "u10": rng.normal(0, 3, sh),
         "v10": rng.normal(0, 3, sh), "sp": 95000 + rng.normal(0, 300, sh),
         "blh": 500 + rng.uniform(0, 800, sh), "tcc": rng.uniform(0, 1, sh),
         "tp": rng.gamma(0.5, 0.6, sh), "ssrd": rng.uniform(0, 600, sh)}
    d["tp"][0] = d["ssrd"][0] = np.nan
    ds = xr.Dataset({k: (("time", "latitude", "longitude"), v.astype("float32"))
                     for k, v in d.items()},
                    coords={"time": ref + pd.to_timedelta(st, "h"), "latitude": lat,
                            "longitude": lon})
    ds.attrs["forecast_reference_time"] = ref.tz_localize("UTC").isoformat()
    return ds


def _close(a: xr.Dataset, b: xr.Dataset, v: str, tol: float) -> None:
    x, y = a[v].values[1:], b[v].values[1:]
    assert np.nanmax(np.abs(x - y)) < tol, v


# ------------------------------------------------------------------------------ reader / writer
def test_ifs_roundtrip_deaccumulates_and_detects_the_centre(tmp_path):
    src = cycle(steps=range(0, 25, 3))
    p = write_grib2(src, tmp_path / "ifs.grib2")
    assert detect_format(p).name == "grib2"
    inv = scan_grib(p)
    tp = inv[inv.shortName == "tp"]
    assert set(inv.centre) == {"ecmf"} and set(inv.edition) == {2}
    assert tp.units.iloc[0] == "m" and tp.stepType.iloc[0] == "accum"
    assert (tp.startStep == 0).all() and tp.endStep.max() == 24   # accumulated from the start
    assert inv[inv.shortName == "tcc"].units.iloc[0] == "%"
    ds, meta = read_grib2(p)
    assert meta["source"] == "ecmwf_ifs_open" and meta["centre"] == "ecmf"
    assert meta["reference_time"] == "2026-01-20T00:00:00+00:00"
    assert meta["steps"] == list(range(0, 25, 3))
    assert ds["step"].values.tolist() == list(range(0, 25, 3))
    assert pd.Timestamp(ds["forecast_reference_time"].values) == REF
    for v, tol in (("t2m", 0.01), ("u10", 0.01), ("sp", 0.5), ("tcc", 1e-4), ("blh", 0.05),
                   ("tp", 1e-3), ("ssrd", 0.01)):
        _close(src, ds, v, tol)
    assert np.isnan(ds["tp"].values[0]).all()   # no window ends at step 0


def test_gfs_buckets_one_file_per_step_in_any_order(tmp_path):
    src = cycle(steps=range(0, 25, 3))
    files = write_grib2_steps(src, tmp_path, centre="kwbc", style="gfs",
                              pattern="gfs.t{ref:%H}z.pgrb2.0p25.f{step:03d}")
    inv = scan_grib(files[3])   # f009: APCP over the 6-9 h bucket, DSWRF a W m-2 average
    tp = inv[inv.shortName == "tp"].iloc[0]
    assert (tp.startStep, tp.endStep, tp.units) == (6, 9, "kg m**-2")
    assert inv[inv.paramId == 235035].stepType.iloc[0] == "avg"
    ds, meta = read_grib2(files[::-1])
    assert meta["source"] == "ncep_gfs_025" and meta["steps"] == list(range(0, 25, 3))
    for v, tol in (("t2m", 0.01), ("tcc", 1e-4), ("tp", 1e-3), ("ssrd", 0.01), ("blh", 0.05)):
        _close(src, ds, v, tol)
    # NOMADS names have no GRIB suffix: `airwarn ingest` knows them by their bytes
    res = runner.invoke(app, ["ingest", *map(str, files[::-1]), "--data-dir", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    e = cycle_catalog(tmp_path / "d")["2026012000"]
    assert e["source"] == "ncep_gfs_025" and e["centre"] == "kwbc"
    assert e["complete_steps"] == list(range(0, 25, 3))
    assert e["missing_steps"][:4] == [1, 2, 4, 5]   # the profile's hourly steps


def test_cma_gfs_precipitation_is_selected_by_its_grib2_triple(tmp_path):
    # CMA-GFS (centre babj) writes total precipitation as WMO 0/1/8 (APCP) in kg m-2 from the
    # reference time, which ecCodes names "unknown", and no surface downward short-wave; one
    # file per step, gmf.gra.<YYYYMMDDHH><FFF>.grb2 (docs/notes/w10-cma-gfs.md)
    src = cycle(steps=range(0, 25, 3))
    files = write_grib2_steps(src, tmp_path, centre="babj", style="cma",
                              pattern="gmf.gra.{ref:%Y%m%d%H}{step:03d}.grb2")
    assert files[2].name == "gmf.gra.2026012000006.grb2"
    inv = scan_grib(files[2])
    assert set(inv.centre) == {"babj"}
    tp = inv[inv.shortName == "unknown"]
    assert len(tp) == 1
    assert (tp.units.iloc[0], tp.stepType.iloc[0], tp.typeOfLevel.iloc[0]) == \
        ("unknown", "accum", "surface")
    assert (tp.startStep.iloc[0], tp.endStep.iloc[0]) == (0, 6)   # from the reference time
    assert {"2t", "2d", "10u", "10v", "sp", "tcc", "blh"} <= set(inv.shortName)
    ds, meta = read_grib2(files[::-1])
    assert meta["source"] == "cma_gfs" and meta["centre"] == "babj"
    assert meta["steps"] == list(range(0, 25, 3)) and "ssrd" not in ds
    for v, tol in (("t2m", 0.01), ("d2m", 0.01), ("u10", 0.01), ("sp", 0.5), ("tcc", 1e-4),
                   ("tp", 1e-3), ("blh", 0.05)):
        _close(src, ds, v, tol)
    res = runner.invoke(app, ["ingest", *map(str, files), "--data-dir", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    e = cycle_catalog(tmp_path / "d")["2026012000"]
    assert e["source"] == "cma_gfs" and e["complete_steps"] == list(range(0, 25, 3))


def test_global_file_is_cropped_to_the_domain_on_read(tmp_path):
    lat, lon = np.arange(-90.0, 90.01, 1.0), np.arange(0.0, 360.0, 1.0)
    g = cycle(steps=[0, 3], lat=lat, lon=lon)
    g["t2m"] = g["t2m"] * 0 + 250 + (g["longitude"] % 360) / 10 + g["latitude"] / 100
    p = write_grib2(g, tmp_path / "global.grib2")
    ds, meta = read_grib2(p)
    assert meta["grid"]["shape"] == [181, 360]
    assert ds["longitude"].values.tolist() == list(np.arange(101.0, 112.0))   # 100.5–111.5
    assert ds["latitude"].values.tolist() == list(np.arange(26.0, 35.0))      # ascending
    assert float(ds["t2m"].sel(latitude=30, longitude=104).isel(time=0)) == \
        pytest.approx(250 + 10.4 + 0.3, abs=0.01)


def test_real_ncep_file_is_recognised_but_holds_none_of_the_variables():
    p = GRIB / "regular_ll_msl.grib"       # cfgrib sample: NCEP GRIB2, mean-sea-level pressure
    inv = scan_grib(p)
    assert inv.centre.tolist() == ["kwbc"] and inv.edition.tolist() == [2]
    assert inv.endStep.tolist() == [72]
    assert detect_format(p).name == "grib2"
    with pytest.raises(MetReaderError, match=r"regular_ll_msl.grib: none of the ncep_gfs_025 "
                                             r"variables .* holds prmsl"):
        read_grib2(p)


def test_real_grib_over_europe_and_unknown_centre_are_refused():
    p = GRIB / "step_60m.grib"              # cfgrib sample: 2t hourly 0–72 h, centre Rome
    with pytest.raises(MetReaderError, match="centre 'cnmc' matches no NWP source profile"):
        read_grib2(p)
    # the sample has 3 of 9 points missing (bitmap) and values near 0 K: both refused
    with pytest.raises(MetReaderError, match=r"message 1 \(step 0 h\): variable 't2m' is 33% "
                                             r"missing; expected at most 20%"):
        read_grib2(p, "ecmwf_ifs_open", crop=False)
    from airwarn.configs.nwp_schema import load_met_checks

    lax = load_met_checks().model_copy(update={"max_nan_share": 0.5})
    with pytest.raises(MetReaderError, match=r"'t2m' has 100.0% of values outside 180–340 K"):
        read_grib2(p, "ecmwf_ifs_open", crop=False, checks=lax)
    lax.ranges["t2m"] = lax.ranges["t2m"].model_copy(update={"min": -10.0})
    ds, meta = read_grib2(p, "ecmwf_ifs_open", crop=False, checks=lax)
    assert meta["steps"] == list(range(73)) and set(ds.data_vars) == {"t2m"}
    assert int(np.isnan(ds["t2m"].isel(time=0)).sum()) == 3   # bitmap → NaN
    with pytest.raises(MetReaderError, match=r"grid covers 8\.75–10\.25°E.*units span"):
        check_coverage(ds["latitude"].values, ds["longitude"].values, "step_60m.grib")
    with pytest.raises(MetReaderError, match="empty"):
        read_grib2(p, "ecmwf_ifs_open")      # cropped to the basin: nothing left


def test_damaged_grib_and_units_errors_name_file_and_variable(tmp_path):
    with pytest.raises(MetReaderError, match="era5-levels-corrupted.grib: damaged GRIB file"):
        read_grib2(GRIB / "era5-levels-corrupted.grib")
    celsius = cycle(steps=[0, 3])
    celsius["t2m"] = celsius["t2m"] - 273.15
    p = write_grib2(celsius, tmp_path / "c.grib2")
    with pytest.raises(MetReaderError, match=r"c.grib2, message 1 \(step 0 h\): variable 't2m' "
                                             r"has 100.0% of values outside 180–340 K.*°C"):
        read_grib2(p)
    gfs_tp = write_grib2(cycle(steps=[0, 3]), tmp_path / "u.grib2", centre="ecmf", style="gfs")
    with pytest.raises(MetReaderError, match=r"u.grib2, message \d+: variable 'tp' \(tp\) has "
                                             r"units 'kg m\*\*-2'; profile ecmwf_ifs_open "
                                             r"expects 'm'"):
        read_grib2(gfs_tp)


def test_duplicated_steps_identical_merge_conflicting_refused(tmp_path):
    a = write_grib2(cycle(steps=[0, 3]), tmp_path / "a.grib2")
    b = write_grib2(cycle(steps=[0, 3]), tmp_path / "b.grib2")
    ds, _ = read_grib2([a, b])
    assert ds.sizes["time"] == 2
    c = write_grib2(cycle(steps=[0, 3], seed=1), tmp_path / "c.grib2")
    with pytest.raises(MetReaderError, match="duplicated step 0 h of 't2m'"):
        read_grib2([a, c])


def test_several_cycles_in_one_call(tmp_path):
    a = write_grib2(cycle(steps=[0, 3]), tmp_path / "a.grib2")
    b = write_grib2(cycle(steps=[0, 3], ref=REF + pd.Timedelta(hours=12)), tmp_path / "b.grib2")
    got = read_grib2_cycles([b, a])
    assert [m["reference_time"][:13] for _, m in got] == ["2026-01-20T00", "2026-01-20T12"]
    with pytest.raises(MetReaderError, match="2 reference times"):
        read_grib2([a, b])
    north_first = cycle(steps=[0, 3]).isel(latitude=slice(None, None, -1))  # demo-world order
    ds, _ = read_grib2(write_grib2(north_first, tmp_path / "n.grib2"))
    assert ds["latitude"].values[0] == 26.0
    _close(north_first.sortby("latitude"), ds, "t2m", 0.01)
    with pytest.raises(ValueError, match="first step must be 0"):
        write_grib2(cycle(steps=[6, 9]), tmp_path / "late.grib2")


# ------------------------------------------------------------------------------ cycle store
def test_d3_end_step_for_the_issue_a_cycle_serves():
    # 00 UTC + 8 h = 16:00 local: the 15:00 issue is missed, it serves 05:00 next day
    issue, step = d3_end_step("2026-01-20T00:00Z", [5, 15], latency_h=8)
    assert issue == pd.Timestamp("2026-01-21T05:00", tz="Asia/Shanghai") and step == 112
    issue, step = d3_end_step("2026-01-20T00:00Z", [5, 15], latency_h=5)
    assert issue == pd.Timestamp("2026-01-20T15:00", tz="Asia/Shanghai") and step == 88


def test_steps_arrive_over_several_ingests_and_the_catalog_says_what_is_complete(tmp_path):
    src = cycle(steps=range(0, 121, 3))
    files = write_grib2_steps(src, tmp_path / "in")
    d = tmp_path / "d"
    res = runner.invoke(app, ["ingest", *map(str, files[20:]), "--data-dir", str(d)])
    assert res.exit_code == 0, res.output
    assert "PARTIAL" in res.output
    e = cycle_catalog(d)["2026012000"]
    assert e["source"] == "ecmwf_ifs_open" and e["steps"][0] == 60 and e["complete_to"] is None
    assert e["partial"] and 0 in e["missing_steps"]
    assert complete_cycles(d) == [] and complete_cycles(d, require_d3=False) == []
    res = runner.invoke(app, ["ingest", *map(str, files[:20][::-1]), "--data-dir", str(d)])
    assert res.exit_code == 0, res.output
    assert "complete" in res.output
    e = cycle_catalog(d)["2026012000"]
    assert e["steps"] == list(range(0, 121, 3)) and e["complete_to"] == 120
    assert e["d3_step"] == 112 and e["reaches_d3"] and not e["partial"]
    assert set(e["arrivals"]) == {str(s) for s in range(0, 121, 3)}
    on_disk = json.loads((d / "met" / "cycles" / "catalog.json").read_text())
    assert on_disk["cycles"]["2026012000"]["reaches_d3"] is True
    assert [c["reference_time"] for c in complete_cycles(d)] == ["2026-01-20T00:00:00+00:00"]
    ds = read_cycle(d, REF)
    for v, tol in (("t2m", 0.01), ("tp", 1e-3), ("ssrd", 0.01)):
        _close(src, ds, v, tol)
    assert "tp_window" not in ds and ds.attrs["partial"] == "no"
    with xr.open_dataset(d / "met" / "cycles" / "2026012000.nc") as f:
        assert f["forecast_reference_time"].attrs["standard_name"] == "forecast_reference_time"
        assert pd.Timestamp(f["forecast_reference_time"].values) == REF


def test_partial_cycle_recorded_strict_refused_and_read_hourly(tmp_path):
    src = cycle(steps=range(0, 49, 3))
    d = tmp_path / "d"
    p = write_grib2(src, tmp_path / "short.grib2")
    res = runner.invoke(app, ["ingest", str(p), "--data-dir", str(d), "--strict"])
    assert res.exit_code == 2 and "short.grib2: cycle 2026-01-20 00 UTC is complete to step " \
        "48 h" in " ".join(res.output.split()) and "nothing was written" in res.output
    assert not (d / "met" / "cycles" / "2026012000.nc").exists()
    res = runner.invoke(app, ["ingest", str(p), "--data-dir", str(d)])
    assert res.exit_code == 0 and "PARTIAL" in res.output
    [e] = complete_cycles(d, require_d3=False)
    assert e["complete_to"] == 48 and e["valid_until"] == "2026-01-22T00:00:00+00:00"
    (d / "met" / "cycles" / "catalog.json").unlink()   # a cache: rebuilt from the files
    again = cycle_catalog(d)["2026012000"]
    assert again["complete_to"] == 48 and again["arrivals"] == e["arrivals"]
    h = read_cycle(d, REF, hourly=True)
    assert h.attrs["partial"] == "yes" and h.attrs["complete_to"] == 48
    assert h["step"].values.tolist() == list(range(49))
    tp = h["tp"].isel(latitude=0, longitude=0).values
    assert tp[1] == tp[2] == tp[3] == pytest.approx(float(src["tp"][1, 0, 0]), abs=1e-3)
    t = h["t2m"].isel(latitude=0, longitude=0).values
    assert t[1] == pytest.approx(t[0] + (t[3] - t[0]) / 3, abs=1e-3)


def test_multi_file_ingest_is_all_or_nothing(tmp_path):
    good = write_grib2(cycle(steps=[0, 3]), tmp_path / "good.grib2")
    bad_ds = cycle(steps=[0, 3], ref=REF + pd.Timedelta(hours=12))
    bad_ds["sp"] = bad_ds["sp"] / 100   # hPa labelled Pa
    bad = write_grib2(bad_ds, tmp_path / "bad.grib2")
    d = tmp_path / "d"
    res = runner.invoke(app, ["ingest", str(good), str(bad), "--data-dir", str(d)])
    out = " ".join(res.output.split())
    assert res.exit_code == 2 and "bad.grib2, message 5" in out and "'sp'" in out
    assert "nothing was written" in out
    assert not list((d / "met" / "cycles").glob("*.nc")) if (d / "met" / "cycles").exists() \
        else True


def test_a_different_file_for_stored_steps_is_said_to_replace_them(tmp_path, caplog):
    """The same file ingested twice changes nothing and says nothing; a corrected re-issue of
    steps 0–12 (other values) replaces them and the ingest says which steps and variables."""
    d = tmp_path / "d"
    first = write_grib2(cycle(steps=range(0, 25, 3), seed=0), tmp_path / "a.grib2")
    again = runner.invoke(app, ["ingest", str(first), "--data-dir", str(d)])
    assert again.exit_code == 0, again.output
    res = runner.invoke(app, ["ingest", str(first), "--data-dir", str(d)])
    assert res.exit_code == 0 and "replaced" not in res.output
    fixed = cycle(steps=range(0, 25, 3), seed=0)
    fixed["t2m"][:5] = fixed["t2m"][:5] + 1.5   # steps 0, 3, 6, 9, 12
    p = write_grib2(fixed, tmp_path / "b.grib2")
    res = runner.invoke(app, ["ingest", str(p), "--data-dir", str(d)])
    out = " ".join(res.output.split())
    assert res.exit_code == 0, res.output
    assert "replaced the stored values of 5 step(s) 0–12 every 3 h (t2m) with these files'" \
        in out
    assert "b.grib2: cycle 2026-01-20 00 UTC: replaced the stored values of 5 step(s) 0–12 " \
        "every 3 h (t2m)" in caplog.text
    h = read_cycle(d, REF)
    np.testing.assert_allclose(h["t2m"].values[:5], fixed["t2m"].values[:5], atol=0.01)
    assert "replaced_steps" not in cycle_catalog(d)["2026012000"]
    # the same forecast in another encoding (12-bit GRIB packing) is not a replacement
    coarse = write_grib2(fixed, tmp_path / "c.grib2", bits=12)
    res = runner.invoke(app, ["ingest", str(coarse), "--data-dir", str(d)])
    assert res.exit_code == 0 and "replaced" not in res.output, res.output


def test_describe_replaced_steps_in_one_line():
    from airwarn.features.met_cycles import describe_replaced

    rep = {s: ["u10", "v10"] for s in range(0, 91)} | {93: ["tcc"], 96: ["blh"], 120: ["tcc"]}
    assert describe_replaced(rep) == \
        "94 step(s) 0–90, 93–96 every 3, 120 h (blh, tcc, u10, v10)"


def test_bytes_after_the_last_message_are_said_zero_padding_is_not(tmp_path, caplog):
    src = cycle(steps=[0, 3])
    p = write_grib2(src, tmp_path / "a.grib2")
    clean = scan_grib(p)
    padded = tmp_path / "padded.grib2"
    padded.write_bytes(p.read_bytes() + b"\0" * 8)
    junk = tmp_path / "junk.grib2"
    junk.write_bytes(p.read_bytes() + b"<html>not here</html>\n")
    with caplog.at_level("WARNING", logger="airwarn.features.readers.grib"):
        assert len(scan_grib(padded)) == len(clean)
        assert not caplog.records
        assert len(scan_grib(junk)) == len(clean)
    assert caplog.records[0].getMessage() == (
        f"{junk}: 22 byte(s) after the last GRIB message ({len(clean)}) are not a GRIB message "
        "and were ignored")


def test_arrivals_say_what_was_available_when(tmp_path):
    src = cycle(steps=range(0, 31, 3))
    d = tmp_path / "d"
    files = write_grib2_steps(src, tmp_path)
    store_cycles(d, read_grib2_cycles(files[:4]), arrived="2026-01-20T06:00Z")
    store_cycles(d, read_grib2_cycles(files[4:]), arrived="2026-01-20T09:00Z")
    assert complete_cycles(d, at="2026-01-20T05:00Z", require_d3=False) == []
    [early] = complete_cycles(d, at="2026-01-20T07:00Z", require_d3=False)
    assert early["complete_to"] == 9 and early["partial"]
    [late] = complete_cycles(d, at="2026-01-20T09:00Z", require_d3=False)
    assert late["complete_to"] == 30


# ------------------------------------------------------------------------------ a run's met source
def _units_at(df: pd.DataFrame, unit: str, v: str) -> pd.Series:
    g = df[df["unit_id"] == unit]
    return pd.Series(g[v].to_numpy(), index=pd.DatetimeIndex(g["time"]))


def test_a_run_reads_ingested_3_hourly_cycles_every_hour(tmp_path):
    """The operational met source (``met=cycles``) on a real GRIB2 cycle (3-hourly steps, IFS
    encoding) ingested by ``airwarn ingest``: every hour from the reference time has values —
    the daily met features need ≥ 12 valid hours a day, which 8 steps a day never give."""
    from airwarn.features.build import local_day_start, met_day_features
    from airwarn.features.met_sampling import sample_units
    from airwarn.features.run_inputs import make_met_source, run_stations
    from airwarn.flows.daily import config_for

    d = tmp_path / "d"
    p = write_grib2(cycle(steps=range(0, 121, 3)), tmp_path / "c00.grib2")
    assert runner.invoke(app, ["ingest", str(p), "--data-dir", str(d)]).exit_code == 0
    cfg = config_for(d)
    src, degraded = make_met_source(cfg, "auto")   # not a demo world: the cycle store
    assert degraded == [] and src.name == "cycle"
    issue = pd.Timestamp("2026-01-20T15:00", tz="Asia/Shanghai").tz_convert("UTC")
    d0 = local_day_start(issue)
    units = ["chengdu", "cq_central"]
    mp = src.panel(issue, d0 - pd.Timedelta(days=1), d0 + pd.Timedelta(hours=96 - 1), units)
    t2m = pd.Series(mp.data["t2m"][:, 1], index=mp.times)
    fc = t2m[t2m.index >= REF.tz_localize("UTC")]
    assert fc.notna().all() and len(fc) == 88   # 00 UTC (08 local) to the end of D+3
    # at the steps the stored values sampled as they are; between them interpolated
    with xr.open_dataset(d / "met" / "cycles" / "2026012000.nc") as raw:
        steps = sample_units(raw.load(), cfg.region, stations=run_stations(cfg))
    at_steps = _units_at(steps, "cq_central", "t2m")
    np.testing.assert_allclose(fc.reindex(at_steps.index).dropna(),
                               at_steps.reindex(fc.index).dropna(), atol=1e-4)
    mid = REF.tz_localize("UTC") + pd.Timedelta(hours=4)
    assert fc[mid] == pytest.approx(at_steps.iloc[1] + (at_steps.iloc[2] - at_steps.iloc[1]) / 3,
                                    abs=1e-3)
    days = met_day_features(mp, mp.index(d0), 4)
    assert np.isfinite(days["t2m"][:, 1]).all() and np.isfinite(days["rain"][:, 1]).all()
    assert 270 < days["t2m"][1, 1] < 290   # K, the fixture's winter temperatures


def test_a_partial_cycle_takes_the_hours_it_lacks_from_the_older_cycle(tmp_path):
    """The 12 UTC cycle arrived only to step 48 (partial); the 00 UTC cycle reaches D+3: the
    run uses the newer cycle as far as it goes and the older one after, and says so."""
    from airwarn.features.met_cycles import read_cycle
    from airwarn.features.met_sampling import sample_units
    from airwarn.features.run_inputs import make_met_source, run_stations
    from airwarn.flows.daily import config_for

    d = tmp_path / "d"
    old = write_grib2(cycle(steps=range(0, 121, 3), seed=1), tmp_path / "c00.grib2")
    new = write_grib2(cycle(steps=range(0, 49, 3), ref=REF + pd.Timedelta(hours=12), seed=2),
                      tmp_path / "c12.grib2")
    res = runner.invoke(app, ["ingest", str(old), str(new), "--data-dir", str(d)])
    assert res.exit_code == 0 and "PARTIAL" in res.output, res.output
    cfg = config_for(d)
    src, _ = make_met_source(cfg, "cycles")
    issue = pd.Timestamp("2026-01-21T05:00", tz="Asia/Shanghai").tz_convert("UTC")
    end = pd.Timestamp("2026-01-24T23:00", tz="Asia/Shanghai").tz_convert("UTC")
    mp = src.panel(issue, issue, end, ["cq_central"])
    got = pd.Series(mp.data["t2m"][:, 0], index=mp.times)
    assert got.notna().all()
    st = run_stations(cfg)
    newer = _units_at(sample_units(read_cycle(d, REF + pd.Timedelta(hours=12), hourly=True),
                                   cfg.region, stations=st), "cq_central", "t2m")
    older = _units_at(sample_units(read_cycle(d, REF, hourly=True), cfg.region, stations=st),
                      "cq_central", "t2m")
    last_new = pd.Timestamp("2026-01-22T12:00Z")
    np.testing.assert_allclose(got[:last_new], newer.reindex(got[:last_new].index), atol=1e-4)
    after = got[last_new + pd.Timedelta(hours=1):]
    np.testing.assert_allclose(after, older.reindex(after.index), atol=1e-4)
    info = src.describe(issue)
    assert info["cycle"] == "2026-01-20T12:00:00+00:00" and info["cycle_age_h"] == 9.0
    assert info["stitched"] == [{"cycle": "2026-01-20T00:00:00+00:00", "hours": 51,
                                 "from": "2026-01-22T13:00:00+00:00",
                                 "to": "2026-01-24T15:00:00+00:00"}]
    assert "partial cycle" in info["note"]


def test_a_hole_in_a_cycle_stays_nan_when_read_hourly_and_the_older_cycle_fills_it(tmp_path):
    """The 12 UTC cycle lacks steps 39–57 (lost in transfer): read hourly, t2m is not drawn as a
    straight line across the 24-h hole but left NaN there (the rain rate, a mean over 36–60 h,
    stays: it is exact); the run takes those hours of t2m from the 00 UTC cycle and says so."""
    from airwarn.features.met_cycles import MAX_INTERP_GAP_H, read_cycle
    from airwarn.features.met_sampling import sample_units
    from airwarn.features.run_inputs import make_met_source, run_stations
    from airwarn.flows.daily import config_for

    d = tmp_path / "d"
    ref12 = REF + pd.Timedelta(hours=12)
    steps = [*range(0, 37, 3), *range(60, 97, 3)]
    old = write_grib2(cycle(steps=range(0, 121, 3), seed=1), tmp_path / "c00.grib2")
    new = write_grib2(cycle(steps=steps, ref=ref12, seed=2), tmp_path / "c12.grib2")
    res = runner.invoke(app, ["ingest", str(old), str(new), "--data-dir", str(d)])
    assert res.exit_code == 0, res.output
    assert cycle_catalog(d)["2026012012"]["complete_to"] == 36
    h = read_cycle(d, ref12, hourly=True)
    assert h["step"].values.tolist() == list(range(97))
    t = h["t2m"].isel(latitude=0, longitude=0).values
    assert MAX_INTERP_GAP_H < 24
    assert np.isfinite(t[:37]).all() and np.isfinite(t[60:]).all()
    assert np.isnan(t[37:60]).all()
    assert t[35] == pytest.approx(t[33] + 2 * (t[36] - t[33]) / 3, abs=1e-3)  # 3-h steps: drawn
    tp = h["tp"].isel(latitude=0, longitude=0).values
    assert np.isfinite(tp[37:61]).all() and np.ptp(tp[37:61]) == 0   # one mean rate, 36–60 h

    cfg = config_for(d)
    src, _ = make_met_source(cfg, "cycles")
    issue = pd.Timestamp("2026-01-21T05:00", tz="Asia/Shanghai").tz_convert("UTC")
    end = pd.Timestamp("2026-01-24T23:00", tz="Asia/Shanghai").tz_convert("UTC")
    mp = src.panel(issue, issue, end, ["cq_central"])
    got = pd.Series(mp.data["t2m"][:, 0], index=mp.times)
    assert got.notna().all()
    st = run_stations(cfg)
    newer = _units_at(sample_units(h, cfg.region, stations=st), "cq_central", "t2m")
    older = _units_at(sample_units(read_cycle(d, REF, hourly=True), cfg.region, stations=st),
                      "cq_central", "t2m")
    hole = pd.date_range(ref12 + pd.Timedelta(hours=37), ref12 + pd.Timedelta(hours=59),
                         freq="h", tz="UTC")
    np.testing.assert_allclose(got[hole], older.reindex(hole), atol=1e-4)
    last_new = ref12.tz_localize("UTC") + pd.Timedelta(hours=96)
    after = got[hole[-1] + pd.Timedelta(hours=1):last_new]
    np.testing.assert_allclose(after, newer.reindex(after.index), atol=1e-4)
    # the hole's 23 hours and the 3 hours past the newer cycle's last step to the end of D+3
    info = src.describe(issue)
    assert info["stitched"] == [{"cycle": "2026-01-20T00:00:00+00:00", "hours": 23 + 3,
                                 "from": hole[0].isoformat(), "to": end.isoformat()}]


def test_a_training_pass_over_many_cycles_keeps_only_the_last_few_in_memory():
    """Thirty daily cycles walked in time order (as training does): each is read once, and only
    ``CACHE_CYCLES`` stay in memory; a complete newest cycle reads no older one."""
    from airwarn.features.build import CycleMet

    reads: list[pd.Timestamp] = []

    def load(ref: pd.Timestamp) -> pd.DataFrame:
        reads.append(ref)
        t = pd.date_range(ref, ref + pd.Timedelta(hours=120), freq="h")
        return pd.DataFrame({"time": t, "unit_id": "u", "t2m": 280.0 + ref.day,
                             "u10": 1.0, "v10": -2.0})

    src = CycleMet(load, cycle_hours=(0,), latency_h=5)
    for day in range(1, 31):
        issue = pd.Timestamp(f"2026-01-{day:02d}T15:00", tz="Asia/Shanghai")
        p = src.panel(issue, issue, issue + pd.Timedelta(hours=80), ["u"])
        assert p.data["t2m"][0, 0] == 280.0 + day   # the day's own 00 UTC cycle
        assert len(src._cache) <= CycleMet.CACHE_CYCLES
    assert len(reads) == len(set(reads)) == 30


# ------------------------------------------------------------------------------ CF NetCDF cycles
def _cf(path, names=("tas",), frt: str | None = "coord", lat=(26.0, 34.0), lon=(101.0, 111.0),
        times=None):
    t = times if times is not None else REF + pd.to_timedelta([0, 3, 6], "h")
    shp = (len(t), 2, 2)
    v = {"tas": (("time", "lat", "lon"), np.full(shp, 281.0),
                 {"standard_name": "air_temperature", "units": "K"}),
         "precip": (("time", "lat", "lon"), np.full(shp, 1e-4),
                    {"standard_name": "precipitation_flux", "units": "kg m-2 s-1"})}
    ds = xr.Dataset({k: v[k] for k in names}, coords={"time": t, "lat": list(lat),
                                                      "lon": list(lon)})
    if frt == "coord":
        ds = ds.assign_coords(forecast_reference_time=np.datetime64(REF.to_datetime64()))
        ds["forecast_reference_time"].attrs["standard_name"] = "forecast_reference_time"
    elif frt == "attr":
        ds.attrs["forecast_reference_time"] = "2026-01-20T00:00:00Z"
    ds.to_netcdf(path)
    return path


def test_cf_cycle_by_standard_name_keeps_forecast_reference_time(tmp_path):
    d = tmp_path / "d"
    p = _cf(tmp_path / "cf.nc", names=("tas", "precip"))
    res = runner.invoke(app, ["ingest", str(p), "--data-dir", str(d)])
    assert res.exit_code == 0, res.output
    ds = read_cycle(d, REF)
    assert float(ds["t2m"].max()) == 281.0 and float(ds["tp"].max()) == pytest.approx(0.36)
    assert ds["step"].values.tolist() == [0, 3, 6]
    a = _cf(tmp_path / "attr.nc", frt="attr")
    res = runner.invoke(app, ["ingest", str(a), "--data-dir", str(tmp_path / "e")])
    assert res.exit_code == 0 and (tmp_path / "e" / "met" / "cycles" / "2026012000.nc").exists()
    # ERA5 names + forecast_reference_time coordinate (issue 19: was refused with --cycle)
    era = xr.open_dataset(p).rename({"tas": "t2m"}).load()
    era["t2m"].attrs = {"units": "K"}
    era[["t2m"]].to_netcdf(tmp_path / "era.nc")
    res = runner.invoke(app, ["ingest", str(tmp_path / "era.nc"), "--cycle",
                              "--data-dir", str(tmp_path / "f")])
    assert res.exit_code == 0, res.output
    assert read_cycle(tmp_path / "f", REF)["step"].values.tolist() == [0, 3, 6]


def test_cf_without_reference_time_needs_the_option(tmp_path):
    p = _cf(tmp_path / "noref.nc", frt=None)
    d = tmp_path / "d"
    res = runner.invoke(app, ["ingest", str(p), "--cycle", "--data-dir", str(d)])
    assert res.exit_code == 2 and "--reference-time" in res.output
    res = runner.invoke(app, ["ingest", str(p), "--cycle", "--reference-time",
                              "2026-01-20T00:00Z", "--data-dir", str(d)])
    assert res.exit_code == 0, res.output
    assert read_cycle(d, REF)["step"].values.tolist() == [0, 3, 6]


def test_cf_over_europe_and_duplicated_steps_are_refused(tmp_path):
    eu = _cf(tmp_path / "eu.nc", lat=(45.0, 46.0), lon=(9.0, 10.0))
    res = runner.invoke(app, ["ingest", str(eu), "--data-dir", str(tmp_path / "d")])
    out = " ".join(res.output.split())
    assert res.exit_code == 2 and "eu.nc: the grid covers" in out and "units span" in out
    dup = _cf(tmp_path / "dup.nc", times=REF + pd.to_timedelta([0, 3, 3], "h"))
    res = runner.invoke(app, ["ingest", str(dup), "--data-dir", str(tmp_path / "d")])
    assert res.exit_code == 2 and "duplicated time step" in res.output
    assert not (tmp_path / "d" / "met").exists()
