"""Backtest domains whose units are sub-regions made of stations (``DomainConfig.sub_regions``,
the stations' ``sub_region``), on real slices
(tests/data/uci: 东四 Dongsi and 定陵 Dingling, 2013-03 … 04, UCI Beijing multi-site, CC BY 4.0)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from airwarn.configs.model_schema import DomainConfig, load_domain
from airwarn.models.backtest import load_domain_data
from airwarn.models.forecast import ForecastArrays
from pydantic import ValidationError

DATA = Path(__file__).resolve().parents[1] / "data"
ROOT = Path(__file__).resolve().parents[2]
STATIONS = [{"id": "Dongsi", "name": "东四", "lat": 39.9522, "lon": 116.434},
            {"id": "Dingling", "name": "定陵", "lat": 40.2865, "lon": 116.170}]


def _domain(sub_regions: list[dict] | None = None,
            member_of: dict[str, str | None] | None = None) -> DomainConfig:
    """The slice's domain; ``member_of`` station id → sub-region (default: all in the first)."""
    regions = sub_regions or []
    first = regions[0]["id"] if regions else None
    stations = [{**s, "sub_region": (member_of or {}).get(s["id"], first)} for s in STATIONS]
    return DomainConfig(name="beijing_slice", reader="prsa",
                        files=["uci/PRSA_Data_*_20130301-20130429.csv"], stations=stations,
                        sub_regions=regions)


def test_a_unit_of_two_stations_is_their_hourly_mean() -> None:
    per_station = load_domain_data(_domain(), root=DATA)
    city = load_domain_data(_domain([{"id": "bj", "name": "北京市"}]), root=DATA)
    assert sorted(city.obs_units["unit_id"].unique()) == ["bj"]
    assert city.names == {"bj": "北京市"}
    assert city.geometry.points["bj"] == pytest.approx((40.11935, 116.302))
    assert city.geometry.neighbours["bj"] == []
    st = per_station.obs_units.pivot(index="time", columns="unit_id", values="pm25")
    st.index = pd.to_datetime(st.index, utc=True)
    got = city.obs_units.set_index("time")["pm25"]
    both = st.dropna().index
    # an hour both stations measured: the mean (µg/m³), e.g. the first such hour
    t = both[0]
    assert got.loc[t] == pytest.approx((st.loc[t, "Dongsi"] + st.loc[t, "Dingling"]) / 2)
    np.testing.assert_allclose(got.reindex(both).to_numpy(), st.loc[both].mean(axis=1))
    # an hour only one of them measured: that station's value (min_stations 1)
    one = st.index[st["Dongsi"].isna() & st["Dingling"].notna()]
    assert len(one) > 0
    np.testing.assert_allclose(got.reindex(one).to_numpy(), st.loc[one, "Dingling"].to_numpy())
    # wind averaged as components (m s-1), one row per hour
    mt = per_station.met_units.pivot(index="time", columns="unit_id", values="u10")
    mc = city.met_units.set_index("time")["u10"]
    ok = mt.dropna().index
    np.testing.assert_allclose(mc.reindex(ok).to_numpy(), mt.loc[ok].mean(axis=1))
    assert city.met_units["time"].is_unique and city.obs_units["time"].is_unique


def test_min_stations_leaves_thin_hours_missing() -> None:
    city = load_domain_data(_domain([{"id": "bj", "min_stations": 2}]), root=DATA)
    per_station = load_domain_data(_domain(), root=DATA)
    st = per_station.obs_units.pivot(index="time", columns="unit_id", values="pm25")
    st.index = pd.to_datetime(st.index, utc=True)
    one = st.index[st["Dongsi"].isna() & st["Dingling"].notna()]
    got = city.obs_units.set_index("time")["pm25"]
    assert got.reindex(one).isna().all()
    assert got.notna().sum() == int(st.notna().all(axis=1).sum())


@pytest.mark.parametrize(("regions", "member_of", "message"), [
    ([{"id": "bj"}], {"Dingling": "tj"}, "sub_region(s) ['tj'] of the stations are not in"),
    ([{"id": "bj"}], {"Dingling": None}, "station(s) ['Dingling'] have no sub_region"),
    ([], {"Dongsi": "bj", "Dingling": "bj"}, "sub_region(s) ['bj'] of the stations are not in"),
    ([{"id": "bj"}, {"id": "bj"}], None, "id(s) ['bj'] listed more than once"),
    ([{"id": "bj", "min_stations": 2}, {"id": "tj"}], {"Dingling": "tj"},
     "sub-region 'bj': min_stations 2 is more than its 1 station(s)"),
])
def test_bad_sub_regions_are_refused_with_the_reason(regions: list[dict],
                                                     member_of: dict | None, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        _domain(regions, member_of)
    assert message in str(err.value)


def test_the_shipped_beijing_city_domain_is_one_unit_of_the_twelve_stations() -> None:
    from airwarn.configs.domain_schema import load_domain as load_general

    dom = load_domain(ROOT / "configs" / "domains" / "beijing_city.yaml")
    multi = load_domain(ROOT / "configs" / "domains" / "beijing_multisite.yaml")
    assert [(r.id, r.name, r.min_stations) for r in dom.sub_regions] == [("beijing", "北京市", 6)]
    assert {s.sub_region for s in dom.stations} == {"beijing"}
    assert [s.id for s in dom.stations] == [s.id for s in multi.stations]
    assert dom.files == multi.files and dom.pollutants == multi.pollutants
    # the general domain schema (ingest) reads the same file
    general = load_general(ROOT / "configs" / "domains" / "beijing_city.yaml")
    assert general.sub_regions[0].id == "beijing"
    assert general.sub_region_models == dom.sub_region_models
    assert [dom.models_for(m) for m in ("perfect", "cycles", "none")] == \
        ["mean", "mean", "members"]


def _arrays(units: list[str]) -> ForecastArrays:
    """Two issues of constructed numbers: unit k's values are 10·(k + 1) (+ the quantile
    offsets), µg/m³."""
    its = pd.DatetimeIndex(["2015-01-01 04:00", "2015-01-02 04:00"], tz="UTC")
    u = len(units)
    base = 10.0 * (np.arange(u) + 1)
    fa = ForecastArrays(its, units, 4, [0.1, 0.5, 0.9])
    fa.hourly = {"pm25": np.broadcast_to(base, (2, 4, u)).copy()}
    fa.hourly_q = {"pm25": base[None, None, :, None] + np.array([-5.0, 0.0, 5.0])
                   + np.zeros((2, 4, u, 3))}
    fa.daily = {"pm25": np.broadcast_to(base, (2, 3, u)).copy()}
    fa.daily_q = {"pm25": base[None, None, :, None] + np.array([-5.0, 0.0, 5.0])
                  + np.zeros((2, 3, u, 3))}
    fa.daily_grid = {"pm25": base[None, None, :, None] + np.linspace(-9, 9, 7)
                     + np.zeros((2, 3, u, 7))}
    fa.method = {"pm25": np.array([[f"m{k}" for k in range(u)]] * 2, dtype=object)}
    fa.reason = {"pm25": np.array([[""] * u] * 2, dtype=object)}
    fa.extras = {"pm25_daily_raw": np.broadcast_to(base + 1.0, (2, 3, u)).copy(),
                 "first_day_lead": 12}
    return fa


def test_aggregate_units_averages_the_members_forecasts() -> None:
    from airwarn.models.forecast import aggregate_units

    fa = _arrays(["Dongsi", "Dingling", "Tiantan"])
    fa.daily["pm25"][1, 2, 1] = np.nan  # a member without a forecast: the others' mean
    out = aggregate_units(fa, {"Dongsi": "bj", "Dingling": "bj", "Tiantan": "tj"})
    assert out.units == ["bj", "tj"]
    assert out.daily["pm25"].shape == (2, 3, 2)
    assert out.daily["pm25"][0, 0].tolist() == [15.0, 30.0]
    assert out.daily["pm25"][1, 2, 0] == 10.0
    np.testing.assert_allclose(out.daily_q["pm25"][0, 0, 0], [10.0, 15.0, 20.0])
    np.testing.assert_allclose(out.daily_grid["pm25"][0, 0, 1], np.linspace(21, 39, 7))
    assert out.hourly["pm25"].shape == (2, 4, 2) and out.hourly_q["pm25"][0, 0, 0, 2] == 20.0
    assert out.method["pm25"][0].tolist() == ["m0", "m2"]
    assert out.extras["pm25_daily_raw"][0, 0].tolist() == [16.0, 31.0]
    assert out.extras["first_day_lead"] == 12
    with pytest.raises(ValueError, match="none of the forecast's units"):
        aggregate_units(fa, {"Gucheng": "bj"})


def test_members_mode_trains_on_the_stations_and_verifies_the_sub_region() -> None:
    mean = load_domain_data(_domain([{"id": "bj", "name": "北京市"}]), root=DATA)
    members = load_domain_data(_domain([{"id": "bj", "name": "北京市"}]).model_copy(
        update={"sub_region_models": "members"}), root=DATA)
    # training units: the stations; forecast units: the sub-region, with its mean series
    assert sorted(members.obs_units["unit_id"].unique()) == ["Dingling", "Dongsi"]
    assert members.forecast_units is not None
    assert members.forecast_units.member_of == {"Dongsi": "bj", "Dingling": "bj"}
    obs_v, geo_v, names_v = members.verification
    pd.testing.assert_frame_equal(obs_v, mean.obs_units)
    assert names_v == {"bj": "北京市"} and geo_v.points == mean.geometry.points
    assert mean.forecast_units is None and mean.verification[2] == {"bj": "北京市"}


def test_sub_region_models_per_met_mode() -> None:
    """``sub_region_models`` as a mapping: the stations train the no-met models only."""
    dom = _domain([{"id": "bj", "name": "北京市"}]).model_copy(
        update={"sub_region_models": {"none": "members"}})
    with_met = load_domain_data(dom, root=DATA, met="perfect")
    without = load_domain_data(dom, root=DATA, met="none")
    assert with_met.forecast_units is None
    assert sorted(with_met.obs_units["unit_id"].unique()) == ["bj"]
    assert without.forecast_units is not None
    assert sorted(without.obs_units["unit_id"].unique()) == ["Dingling", "Dongsi"]
    # both verify the same unit, on the same observations
    pd.testing.assert_frame_equal(without.verification[0], with_met.obs_units)
    assert dom.models_for("cycles") == "mean"  # modes not named: mean
    with pytest.raises(ValueError, match="met mode 'nwp'"):
        load_domain_data(dom, root=DATA, met="nwp")


def test_sub_region_models_mapping_is_validated() -> None:
    base = _domain([{"id": "bj", "name": "北京市"}]).model_dump()
    with pytest.raises(ValidationError, match="sub_region_models"):
        DomainConfig.model_validate({**base, "sub_region_models": {"none": "stations"}})
    with pytest.raises(ValidationError, match="sub_region_models"):
        DomainConfig.model_validate({**base, "sub_region_models": {"nwp": "members"}})


def test_the_shipped_chengdu_city_domain_is_one_unit_of_the_three_stations() -> None:
    dom = load_domain(ROOT / "configs" / "domains" / "chengdu_city.yaml")
    stations = load_domain(ROOT / "configs" / "domains" / "chengdu_five_cities.yaml")
    assert [(r.id, r.name, r.min_stations) for r in dom.sub_regions] == [("chengdu", "成都市", 2)]
    assert [s.id for s in dom.stations] == [s.id for s in stations.stations]
    assert {s.sub_region for s in dom.stations} == {"chengdu"}
    assert dom.files == stations.files
    # chosen on the training fold per met mode (docs/notes/w9-nomet-members.md)
    assert [dom.models_for(m) for m in ("perfect", "cycles", "none")] == \
        ["mean", "mean", "members"]
