"""features.history: an earlier record from another source, homogenised onto a unit's record, on
real slices (tests/data/uci: the US Embassy monitor 2013-02 … 04 and 东四 Dongsi / 定陵 Dingling
2013-03 … 04, CC BY 4.0) and constructed series with a known answer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from airwarn.configs.model_schema import DomainConfig, HistoryRecord
from airwarn.features.history import extend_unit_record, quantile_map
from airwarn.features.readers.uci import read_five_cities, read_prsa
from airwarn.models.backtest import load_domain_data

DATA = Path(__file__).resolve().parents[1] / "data"
UCI = DATA / "uci"
STATIONS = [{"id": "Dongsi", "lat": 39.9522, "lon": 116.434},
            {"id": "Dingling", "lat": 40.2865, "lon": 116.170}]


def _domain(**history: object) -> DomainConfig:
    rec = {"reader": "five_cities", "file": "uci/BeijingPM20130201_20130429.csv",
           "station": "beijing_us_post", "unit": "Dongsi", "overlap_until": "2013-04-29",
           "min_overlap_hours": 500, **history}
    return DomainConfig(name="beijing_slice", reader="prsa",
                        files=["uci/PRSA_Data_*_20130301-20130429.csv"], stations=STATIONS,
                        history=[HistoryRecord(**rec)])


def test_quantile_map_removes_a_shift_and_a_scale() -> None:
    rng = np.random.default_rng(0)
    target = rng.gamma(2.0, 40.0, 5000)  # µg/m³
    source = 1.1 * target + 5.0  # a monitor reading 10 % + 5 µg/m³ high
    mapped = quantile_map(np.array([5.0 + 1.1 * 100.0, np.nan]), source, target)
    assert mapped[0] == pytest.approx(100.0, abs=1.5)
    assert np.isnan(mapped[1])
    # beyond the outermost level: the outermost pair's offset continues
    top_s, top_t = np.quantile(source, 0.995), np.quantile(target, 0.995)
    assert quantile_map(np.array([top_s + 50.0]), source, target)[0] == pytest.approx(
        top_t + 50.0)


def test_extend_unit_record_prepends_the_mapped_earlier_hours() -> None:
    obs, met = read_prsa(sorted(UCI.glob("PRSA_Data_*_20130301-20130429.csv")))
    obs, met = obs.rename(columns={"station_id": "unit_id"}), met.rename(
        columns={"station_id": "unit_id"})
    h_obs, h_met = read_five_cities(UCI / "BeijingPM20130201_20130429.csv")
    first = obs["time"][obs["unit_id"] == "Dongsi"].min()
    out_obs, out_met, info = extend_unit_record(
        obs, met, h_obs, h_met, "Dongsi", overlap_until=pd.Timestamp("2013-04-29 15:00", tz="UTC"),
        min_overlap_hours=500)
    # February 2013 (28 local days) is added to Dongsi only; nothing else changes
    assert info["hours_added"] == 28 * 24
    added = out_obs[out_obs["time"] < first]
    assert set(added["unit_id"]) == {"Dongsi"} and len(added) == 28 * 24
    assert len(out_obs) == len(obs) + 28 * 24 and len(out_met) == len(met) + 28 * 24
    pd.testing.assert_frame_equal(out_obs[out_obs["time"] >= first].reset_index(drop=True),
                                  obs.reset_index(drop=True))
    # the mapping is monotone: the hours keep their order, and values stay physical
    raw = h_obs.set_index("time")["pm25"].reindex(added["time"]).to_numpy()
    new = added["pm25"].to_numpy()
    ok = np.isfinite(raw)
    assert np.isnan(new[~ok]).all()
    order = np.argsort(raw[ok], kind="stable")
    assert np.all(np.diff(new[ok][order]) >= -1e-9) and new[ok].min() >= 0.0
    wind = out_met[(out_met["time"] < first)]
    assert wind["rh"].between(0, 100).all() and (wind["ws10"] >= 0).all()
    assert np.allclose(np.hypot(wind["u10"], wind["v10"])[wind["u10"].abs() + wind["v10"].abs()
                                                         > 0],
                       wind["ws10"][wind["u10"].abs() + wind["v10"].abs() > 0])
    # the embassy's anemometer is windier than Dongsi's (five-cities Iws vs PRSA WSPM): mapped
    # February winds are weaker than the raw ones
    raw_ws = h_met.set_index("time")["ws10"].reindex(wind["time"]).to_numpy()
    assert info["mean_shift"]["ws10"] < 0 and np.nanmean(wind["ws10"]) < np.nanmean(raw_ws)


def test_load_domain_data_extends_the_unit_and_can_leave_it_out() -> None:
    with_h = load_domain_data(_domain(), root=DATA)
    without = load_domain_data(_domain(), root=DATA, history=False)
    d_w = with_h.obs_units[with_h.obs_units["unit_id"] == "Dongsi"]["time"]
    d_o = without.obs_units[without.obs_units["unit_id"] == "Dongsi"]["time"]
    assert d_o.min() == pd.Timestamp("2013-02-28 16:00", tz="UTC")  # 2013-03-01 00h local
    assert d_w.min() == pd.Timestamp("2013-01-31 16:00", tz="UTC")  # 2013-02-01 00h local
    ding = with_h.obs_units[with_h.obs_units["unit_id"] == "Dingling"]["time"]
    assert ding.min() == d_o.min()
    # a start day cuts the earlier record
    late = load_domain_data(_domain(start="2013-02-15"), root=DATA)
    assert late.obs_units[late.obs_units["unit_id"] == "Dongsi"]["time"].min() == \
        pd.Timestamp("2013-02-14 16:00", tz="UTC")


def test_history_errors_name_the_record() -> None:
    with pytest.raises(ValueError, match=r"'pm25' has \d+ hours in both records .* at least "
                                         r"1440"):
        load_domain_data(_domain(min_overlap_hours=1440), root=DATA)
    with pytest.raises(ValueError, match="unit 'Tiantan' has no observations"):
        load_domain_data(_domain(unit="Tiantan"), root=DATA)
    with pytest.raises(ValueError, match="has no station 'beijing_embassy'"):
        load_domain_data(_domain(station="beijing_embassy"), root=DATA)
    with pytest.raises(FileNotFoundError, match="history file 'uci/none.csv' not found"):
        load_domain_data(_domain(file="uci/none.csv"), root=DATA)


def test_both_domain_schemas_read_a_history_block(tmp_path: Path) -> None:
    from airwarn.configs.domain_schema import load_domain as load_ingest_domain
    from airwarn.configs.model_schema import load_domain as load_backtest_domain

    text = ("name: beijing_slice\nreader: prsa\nfiles: ['uci/PRSA_Data_*_20130301-20130429.csv']\n"
            "history:\n  - {reader: five_cities, file: uci/BeijingPM20130201_20130429.csv,\n"
            "     station: beijing_us_post, unit: Dongsi, overlap_until: '2013-04-29'}\n")
    p = tmp_path / "beijing_slice.yaml"
    p.write_text(text, encoding="utf-8")
    for load in (load_ingest_domain, load_backtest_domain):
        rec = load(p).history[0]
        assert (rec.unit, rec.station, rec.min_overlap_hours) == ("Dongsi", "beijing_us_post",
                                                                  1440)
    p.write_text(text.replace("overlap_until: '2013-04-29'", "until: '2013-04-29'"),
                 encoding="utf-8")
    from airwarn.configs.schema import ConfigError

    with pytest.raises(ConfigError, match="overlap_until"):
        load_backtest_domain(p)
