"""The demo's real input path on the small demo world: the world writes IFS-like GRIB2 cycles,
CNEMC hourly files and CMA surface exports; a real HTTP server on 127.0.0.1 serves them; they
are fetched, ingested through the inbox, and the daily run forecasts from the ingested cycle.

Lighter sources than ``configs/sources_demo.yaml`` (12-hourly steps to 96 h, 4 hours of station
files) keep the test short; the layouts and formats are the same.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from airwarn.models.forecast import TARGETS

from tests.flows.conftest import ISSUE, STAMP

REF = pd.Timestamp("2026-01-20T00:00", tz="UTC")     # the cycle of the 15:00 issue (−5 h, 00 UTC)
PREV = REF - pd.Timedelta(days=1)


def _sources():
    from airwarn.features.demo_world.feed import load_demo_sources

    srcs = load_demo_sources()
    light = {"ecmwf-ifs": {"steps": list(range(0, 97, 12))},
             "cnemc": {"lookback_h": 4}, "cma-surface": {"lookback_h": 4}}
    return srcs.model_copy(update={"sources": [s.model_copy(update=light[s.name])
                                               for s in srcs.sources]})


def test_demo_feed_fetched_ingested_and_forecast_from(data_dir):
    from airwarn.features.demo_world import forecast_cycle, load_world, unit_met_analysis
    from airwarn.features.demo_world.feed import demo_met_stations_path, write_demo_feed
    from airwarn.features.inbox import InboxLedger
    from airwarn.features.met_cycles import cycle_catalog, read_cycle
    from airwarn.features.met_obs import read_met_obs
    from airwarn.features.readers.cma import read_cma_surface
    from airwarn.features.readers.cnemc import read_cnemc
    from airwarn.features.readers.grib import scan_grib
    from airwarn.features.store import read_obs
    from airwarn.flows.demo import feed_dir, fetch_demo_feed

    from tests.flows.test_daily import _run

    world = load_world(data_dir)
    srcs = _sources()
    rep = write_demo_feed(world, data_dir, sources=srcs)
    feed = feed_dir(data_dir)

    # 1. the three formats, in the providers' layouts
    gribs = sorted((feed / "ecmwf-ifs").rglob("*.grib2"))
    assert len(gribs) == 2 * 9          # two cycles (current + fallback) × steps 0…96 by 12
    assert [c["cycle"] for c in rep["sources"]["ecmwf-ifs"]["cycles"]] == \
        [REF.isoformat(), PREV.isoformat()]
    g = gribs[0]
    assert g.relative_to(feed).as_posix().startswith("ecmwf-ifs/20260119/00z/ifs/0p25/oper/")
    msgs = scan_grib(feed / "ecmwf-ifs/20260120/00z/ifs/0p25/oper/20260120000000-24h-oper-fc.grib2")
    assert len(msgs) == 9 and set(msgs["centre"]) == {"ecmf"}
    cnemc = sorted((feed / "cnemc").rglob("*.csv"))
    assert [p.name for p in cnemc] == [f"cnemc_20260120{h:02d}.csv" for h in (11, 12, 13, 14)]
    assert cnemc[-1].read_text(encoding="utf-8").startswith("timepoint,stationcode,longitude")
    cma = sorted((feed / "cma-surface").rglob("*.csv"))
    assert [p.name for p in cma] == [f"SURF_CHN_MUL_HOR_20260120{h:02d}.csv" for h in (3, 4, 5, 6)]
    assert cma[0].read_text(encoding="utf-8").startswith("Station_Id_C,Year,Mon,Day,Hour,PRS")
    met_st = pd.read_csv(demo_met_stations_path(data_dir), dtype={"station_id": str})
    assert len(met_st) == 31 and met_st["unit_id"].is_unique

    # 2. served on 127.0.0.1, fetched, ingested by the inbox
    lines: list[str] = []
    rec = fetch_demo_feed(data_dir, ISSUE, sources=srcs, say=lines.append)
    assert any("http://127.0.0.1:" in m for m in lines)
    assert rec["fetched"] == {"ecmwf-ifs": {"ok": 18}, "cnemc": {"ok": 4},
                              "cma-surface": {"ok": 4}}
    assert rec["failures"] == [] and rec["inbox"]["quarantined"] == []
    assert len(rec["inbox"]["ingested"]) == 26
    assert rec["cycles"]["ecmwf-ifs"]["used"] == REF.isoformat()
    ledger = InboxLedger(data_dir / "inbox" / "ledger.sqlite").frame()
    assert ledger.groupby("kind").size().to_dict() == {"met_grid": 18, "met_obs": 4, "obs": 4}
    assert set(ledger["status"]) == {"ingested"}
    assert set(ledger.loc[ledger["kind"] == "met_grid", "format"]) == {"grib2"}

    # the cycle store: both cycles, from ECMWF-IFS GRIB2. The current one merged into the
    # hourly NetCDF the world build wrote (steps 0…120); the previous one holds the 12-hourly
    # steps only, which the catalog compares with the profile's 3-hourly ones
    cat = cycle_catalog(data_dir)
    for ref in (REF, PREV):
        e = cat[f"{ref:%Y%m%d%H}"]
        assert e["source"] == "ecmwf_ifs_open" and e["centre"] == "ecmf"
        assert set(range(0, 97, 12)) <= set(e["steps"])
    assert cat[f"{PREV:%Y%m%d%H}"]["steps"] == list(range(0, 97, 12))
    assert 3 in cat[f"{PREV:%Y%m%d%H}"]["missing_steps"]
    assert cat[f"{REF:%Y%m%d%H}"]["last_step"] == 120
    # values: the stored cycle is the world's forecast, through GRIB packing (16 bits)
    stored = read_cycle(data_dir, PREV)
    truth = forecast_cycle(world, PREV)
    t24 = np.datetime64((PREV + pd.Timedelta(hours=24)).tz_localize(None))
    a = stored["t2m"].sel(time=t24).sortby("latitude").values
    b = truth["t2m"].sel(time=t24).sortby("latitude").values
    assert np.nanmax(np.abs(a - b)) < 0.01                 # K
    assert 250 < float(np.nanmean(a)) < 300

    # station observations: the store holds the CNEMC file's values
    last = read_cnemc(cnemc[-1])
    t_last = ISSUE.tz_convert("UTC") - pd.Timedelta(hours=1)
    obs = read_obs(data_dir, start=t_last, end=t_last)
    m = last.merge(obs, on=["time", "station_id"], suffixes=("_f", "_s"))
    assert len(m) >= 100 and (m["time"] == t_last).all()
    ok = m["pm25_f"].notna()
    np.testing.assert_allclose(m.loc[ok, "pm25_s"], m.loc[ok, "pm25_f"], atol=0.51)
    # station meteorology: one synthetic station per unit, the world's analysis at its point
    met = read_met_obs(data_dir)
    assert met["station_id"].nunique() == 31 and met["time"].nunique() == 4
    cma_back = read_cma_surface(cma[-1])
    assert set(cma_back["station_id"]) == set(met_st["station_id"])
    ana = unit_met_analysis(world, t_last, t_last)
    sid = dict(zip(met_st["unit_id"], met_st["station_id"], strict=True))
    ana = ana.assign(station_id=ana["unit_id"].map(sid))
    j = met[met["time"] == t_last].merge(ana, on="station_id", suffixes=("", "_w"))
    assert len(j) == 31
    np.testing.assert_allclose(j["t2m"], j["t2m_w"], atol=0.06)       # 0.1 °C in the file
    np.testing.assert_allclose(j["sp"], j["sp_w"], atol=6.0)          # 0.1 hPa

    # 3. the daily run forecasts from the ingested cycle and observations
    run, manifest = _run(data_dir, met="demo", products=())
    assert manifest["status"] in ("complete", "degraded"), manifest
    info = run.met_info
    assert info["cycle"] == REF.isoformat()
    assert info["cycle_from"] == "met store (fetched, ingested)"
    assert (info["cycle_file"], info["nwp_source"]) == ("met/cycles/2026012000.nc",
                                                        "ecmwf_ifs_open")
    assert {"t2m", "sp"} <= set(run.obs_units.columns)     # station met merged (→ mo_*)
    recent = run.obs_units[run.obs_units["time"] == t_last]
    assert recent["t2m"].notna().sum() == 31
    with xr.open_dataset(data_dir / "forecasts" / f"{STAMP}.nc") as fc:
        inputs = json.loads(fc.attrs["inputs"])
        assert fc.attrs["source"] == "synthetic demo"
        assert np.isfinite(fc["pm25"].values).all()
    assert inputs["cycle_file"] == "met/cycles/2026012000.nc"
    assert inputs["nwp_source"] == "ecmwf_ifs_open"
    assert inputs["arrival"]["met_source"] == "ecmwf-ifs"
    assert inputs["arrival"]["obs_file"] == "cnemc_2026012014.csv"
    assert {k: pd.Timestamp(v) for k, v in inputs["obs_last_time"].items()} == \
        {p: t_last for p in TARGETS}   # every forecast target, the last hour fed


@pytest.mark.parametrize("steps", [[0, 3, 6, 9]])
def test_feed_cycle_windows_keep_accumulations_exact(demo_world, tmp_path, steps):
    """Steps coarser than an hour: tp/ssrd are averaged over each window before writing, so the
    GRIB accumulation from the reference time equals the sum of the world's hourly rates."""
    from airwarn.features.demo_world import forecast_cycle
    from airwarn.features.demo_world.feed import _window_rates

    ds = forecast_cycle(demo_world, REF, steps=10)
    w = _window_rates(ds, steps)
    total = (w["tp"].isel(time=slice(1, None)) * 3).sum("time").values
    hourly = ds["tp"].isel(time=slice(1, 10)).sum("time").values
    np.testing.assert_allclose(total, hourly, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(w["t2m"].values, ds["t2m"].isel(time=steps).values)
