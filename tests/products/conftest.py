"""Fixtures of the products tests (builders in ``products_fixtures.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr
from products_fixtures import make_decision, make_forecast

from airwarn import configs


@pytest.fixture
def forecast_all() -> xr.Dataset:
    """Forecast for all 31 units (maps)."""
    return make_forecast()


@pytest.fixture
def decision() -> dict:
    return make_decision()


@pytest.fixture
def config():
    return configs.load_config()


def _refuse(*args, **kwargs):
    raise OSError("network access attempted during map rendering")


@pytest.fixture(scope="session")
def rendered_maps(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    """The maps of the 31-unit fixture run, rendered once with the network blocked and an empty
    cartopy data dir; returns (paths, cartopy data dir)."""
    import socket

    import cartopy
    from airwarn.products.maps import render_run_maps

    base = tmp_path_factory.mktemp("maps")
    data = base / "cartopy-data"
    data.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _refuse)
        mp.setattr(socket, "create_connection", _refuse)
        mp.setitem(cartopy.config, "data_dir", str(data))
        mp.setitem(cartopy.config, "pre_existing_data_dir", str(data))
        paths = render_run_maps(make_forecast(with_nan_unit="bazhong"), [make_decision()],
                                configs.load_region(), base / "out")
    return paths, data


@pytest.fixture
def offline_cartopy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point cartopy's data_dir at an empty temp dir: any Natural Earth use would have to download."""
    import cartopy

    d = tmp_path / "cartopy-data"
    d.mkdir()
    monkeypatch.setitem(cartopy.config, "data_dir", str(d))
    monkeypatch.setitem(cartopy.config, "pre_existing_data_dir", str(d))
    return d
