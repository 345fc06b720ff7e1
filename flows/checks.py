"""Checks a run makes on its own output before it calls it done.

A forecast with no finite value for a unit is not a forecast: the command says so (naming the
units) and exits non-zero, unless the operator explicitly accepts a baseline (``--allow-baseline``),
in which case the file's ``method``/``fallback_reason`` name the baseline in every product.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import xarray as xr

import numpy as np

__all__ = ["units_without_forecast", "MET_CHOICES", "MET_CHOICES_AUTO"]

#: Meteorology sources of ``forecast`` / ``train`` (``flows.daily.make_met_source``).
MET_CHOICES = ("cycles", "demo", "perfect", "none")
#: … and of the ``run`` flows, which also accept ``auto``.
MET_CHOICES_AUTO = ("auto", *MET_CHOICES)


def units_without_forecast(ds: xr.Dataset) -> list[str]:
    """Units (``region``) whose daily AQI forecast has no finite value on any day.

    Parameters
    ----------
    ds : xarray.Dataset
        A forecast file (``aqi_daily(region, day)``; falls back to ``pm25_daily``).

    Returns
    -------
    list of str
        Unit ids, in file order (empty when every unit has a finite forecast).
    """
    for name in ("aqi_daily", "pm25_daily", "pm25"):
        if name in getattr(ds, "variables", {}):
            da = ds[name].transpose("region", ...)
            values = da.to_numpy().astype(float).reshape(da.sizes["region"], -1)
            finite = np.isfinite(values).any(axis=1)
            return [str(r) for r, ok in zip(ds["region"].to_numpy(), finite, strict=True)
                    if not ok]
    return [str(r) for r in ds["region"].to_numpy()] if "region" in ds.coords else []
