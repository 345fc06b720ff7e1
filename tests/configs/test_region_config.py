"""The 成渝 region configuration and its validation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from airwarn.configs.schema import ConfigError, Region, Settings, load_yaml_model

from airwarn import configs

BORDER_BELT = {"yongchuan", "hechuan", "dazu", "tongnan", "rongchang",
               "luzhou", "guangan", "ziyang", "suining", "neijiang"}


def test_region_has_the_units_of_the_joint_area() -> None:
    region = configs.load_region()
    groups = {}
    for u in region.units:
        groups.setdefault(u.group, []).append(u.id)
    assert len(groups["渝西地区"]) == 8
    assert len(groups["渝东新城"]) == 5
    assert groups["中心城区"] == ["cq_central"]
    sichuan = [u for u in region.units if u.province == "sichuan"]
    assert len(sichuan) == 17
    assert {u.id for u in region.units if u.border_belt} == BORDER_BELT
    chengdu = region.unit("chengdu")
    assert chengdu.code == "510100" and chengdu.seat is not None
    assert chengdu.seat.lat == pytest.approx(30.67) and chengdu.seat.lon == pytest.approx(104.07)


def test_neighbours_are_symmetric_and_cross_the_border() -> None:
    region = configs.load_region()
    for u in region.units:
        assert region.neighbours(u.id), f"{u.id} has no neighbour"
        for n in region.neighbours(u.id):
            assert u.id in region.neighbours(n)
    # every border-belt unit touches the other province
    prov = {u.id: u.province for u in region.units}
    for uid in BORDER_BELT:
        assert any(prov[n] != prov[uid] for n in region.neighbours(uid)), uid


def _region_data() -> dict:
    return yaml.safe_load((configs.CONFIG_DIR / "region.yaml").read_text(encoding="utf-8"))


def _write(tmp_path: Path, data: dict) -> Path:
    p = tmp_path / "region.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return p


def test_wrong_key_is_refused_with_file_and_path(tmp_path: Path) -> None:
    data = _region_data()
    data["units"][3]["neighbors"] = []  # American spelling: unknown key
    p = _write(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load_yaml_model(p, Region)
    msg = str(err.value)
    assert str(p) in msg and "units.3.neighbors" in msg and "Extra inputs" in msg


def test_wrong_type_and_missing_coordinates_are_refused(tmp_path: Path) -> None:
    data = _region_data()
    data["units"][0]["centroid"] = {"lat": "north", "lon": 106.6}
    with pytest.raises(ConfigError, match=r"units\.0\.centroid\.lat"):
        load_yaml_model(_write(tmp_path, data), Region)
    data = _region_data()
    del data["units"][5]["centroid"]
    with pytest.raises(ConfigError, match=r"units\.5\.centroid: Field required"):
        load_yaml_model(_write(tmp_path, data), Region)


def test_unknown_neighbour_is_refused(tmp_path: Path) -> None:
    data = _region_data()
    data["units"][1]["neighbours"].append({"id": "atlantis", "kind": "border"})
    with pytest.raises(ConfigError, match="atlantis"):
        load_yaml_model(_write(tmp_path, data), Region)


def test_station_outside_every_unit_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "stations.csv"
    p.write_text("station_id,name,name_en,city,district,sub_region,lon,lat\n"
                 "1431A,金泉两河,Jinquan,成都,金牛区,chengdu,104.05,30.70\n"
                 "9999A,某站,Somewhere,拉萨,城关区,lhasa,91.1,29.6\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"line 3: station 9999A lies in no unit"):
        configs.load_stations(p)


def test_settings_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRWARN_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("AIRWARN_WARNING_TRIGGER", "probability")
    s = configs.load_settings()
    assert s.data_dir == tmp_path / "d" and s.warning_trigger == "probability"
    monkeypatch.setenv("AIRWARN_HORIZON_DAYS", "9")
    with pytest.raises(ConfigError, match="horizon_days"):
        configs.load_settings()


def test_settings_quantiles_must_include_median() -> None:
    with pytest.raises(Exception, match="include 0.5"):
        Settings(quantiles=[0.1, 0.9])


def test_config_command_names_units_without_stations() -> None:
    from airwarn.flows.cli import app
    from typer.testing import CliRunner

    result = CliRunner(env={"COLUMNS": "250"}).invoke(app, ["config", "--units"])
    assert result.exit_code == 0, result.output
    stations = configs.load_stations()
    bare = sorted(set(configs.load_region().unit_ids) - set(stations["sub_region"]))
    assert bare, "the national list leaves some units without a station"
    assert f"{len(bare)} units list no station" in result.output
    assert "jiangjin" in result.output and "chengdu" in result.output


def test_validate_all_refuses_a_unit_naming_an_unknown_ladder() -> None:
    from airwarn.flows.commands.config import validate_all

    cfg = configs.load_config()
    assert "response/emergency_list" in validate_all(cfg)
    data = _region_data()
    data["units"][0]["ladder"] = "national-2099"
    bad = configs.AirwarnConfig(settings=cfg.settings, region=Region.model_validate(data),
                                stations=cfg.stations)
    with pytest.raises(ConfigError, match=r"cq_central.*national-2099|national-2099.*cq_central"):
        validate_all(bad)


def test_relative_data_dir_is_made_absolute(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AIRWARN_DATA_DIR", raising=False)
    s = configs.load_settings()
    assert s.data_dir == tmp_path.resolve() / "data" and s.data_dir.is_absolute()
