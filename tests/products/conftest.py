"""Fixtures of the products tests (builders in ``products_fixtures.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr
from products_fixtures import make_decision, make_forecast

import configs


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


@pytest.fixture
def offline_cartopy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point cartopy's data_dir at an empty temp dir: any Natural Earth use would have to download."""
    import cartopy

    d = tmp_path / "cartopy-data"
    d.mkdir()
    monkeypatch.setitem(cartopy.config, "data_dir", str(d))
    monkeypatch.setitem(cartopy.config, "pre_existing_data_dir", str(d))
    return d
