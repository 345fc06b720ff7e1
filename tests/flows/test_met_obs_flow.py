"""Station meteorology reaches the unit observations of the flows (training, forecast CLI, daily
run all read them through ``flows.daily.load_unit_obs`` / ``stage_aggregate``) and becomes the
``mo_*`` history features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from airwarn.configs import AirwarnConfig, load_config
from airwarn.features.build import make_panel, met_history_features, observation_variables
from airwarn.features.met_obs import write_met_obs
from airwarn.features.store import write_obs
from airwarn.flows.daily import load_unit_obs


def test_load_unit_obs_carries_station_met_and_mo_features(tmp_path: Path) -> None:
    times = pd.date_range("2024-01-13 00:00", periods=72, freq="h", tz="UTC")
    n = len(times)
    wave = np.repeat(np.round(20 * np.sin(np.arange(n) / 5.0)), 2)  # not stuck for QC
    obs = pd.DataFrame({"time": np.repeat(times, 2), "station_id": ["1431A", "1415A"] * n,
                        "pm25": np.tile([80.0, 60.0], n) + wave, "pm10": 130.0 + wave,
                        "o3": 40.0 + wave, "no2": 40.0 + wave, "so2": 15.0 + wave / 4,
                        "co": 1.0 + wave / 100, "qc": 0})
    write_obs(obs, tmp_path)
    hour = times.hour.to_numpy()
    met = pd.DataFrame({"time": times, "station_id": "56294",
                        "t2m": 275.0 + 5 * np.sin(hour / 24 * 2 * np.pi), "d2m": 272.0,
                        "sp": 95600.0, "tp": 0.0, "u10": 1.0, "v10": 0.0, "ws10": 1.0,
                        "rh": 80.0})
    write_met_obs(met, tmp_path)
    cfg = load_config()
    config = AirwarnConfig(settings=cfg.settings.model_copy(update={"data_dir": tmp_path}),
                           region=cfg.region, stations=cfg.stations)
    units = load_unit_obs(config)
    assert {"t2m", "sp", "ws10", "rh", "tp"} <= set(units.columns)
    cd = units[units["unit_id"] == "chengdu"].set_index("time")
    assert cd["pm25"].iloc[0] == 80.0 and cd["sp"].iloc[0] == 95600.0
    assert cd.loc[times[6], "t2m"] == met.loc[6, "t2m"]
    cq = units[units["unit_id"] == "cq_central"]
    assert cq["t2m"].isna().all()  # no Chongqing met station in the sample → missing, not 0
    variables = observation_variables(units)
    panel = make_panel(units, variables, ["chengdu", "cq_central"])
    feats = met_history_features(panel, np.array([48]))
    assert feats["mo_sp_last"][0, 0] == 95600.0 and np.isnan(feats["mo_sp_last"][0, 1])
    assert feats["mo_t2m_m24"][0, 0] == np.mean(met["t2m"].to_numpy()[24:48])
    assert feats["mo_calm_h24"][0, 0] == 24  # ws10 1 m/s < 1.5 every hour
