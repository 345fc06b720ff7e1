"""Sample gridded meteorology at forecast units and points.

* :func:`sample_points` — bilinear interpolation at arbitrary points (regular
  ``latitude``/``longitude`` grids, or curvilinear 2-D coordinates such as WRF's).
* :func:`sample_units` — one series per forecast unit: the area mean over the unit polygon
  (cell centres inside the polygon, weighted by cos(latitude)) when the polygon holds at least
  ``min_cells`` grid cells, otherwise the mean of bilinear values at the unit's stations
  (``configs/stations.csv``) or, with no station, at its seat point (``Unit.point``).

Polygons come from the offline ``cnmaps`` boundaries (simplified outlines, ample for grid
cells of 0.1° and coarser): a Sichuan unit is its prefecture-level city; a Chongqing unit is the
union of its member districts (``Unit.members``, else its own name). Polygons and the grid masks are cached. Works lazily on dask-backed Datasets: the
result is computed once, at the end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
import xarray as xr
from airwarn.configs.schema import Region, Unit
from airwarn.features.stations_table import PROVINCE_NAME, district_polygons

__all__ = ["unit_polygon", "unit_weights", "sample_points", "sample_units"]

_MASK_CACHE: dict[tuple, xr.DataArray] = {}


@lru_cache(maxsize=4)
def _city_polygons(province: str) -> dict[str, object]:
    """Prefecture-level polygons of a province (one cnmaps query, simplified, cached)."""
    try:
        from cnmaps import get_adm_maps

        records = get_adm_maps(province=province, level="市", simplify=True)
    except Exception:  # noqa: BLE001 - MapNotFoundError, no data: fall back to points
        return {}
    return {str(r["city"]): getattr(r["geometry"], "geom", r["geometry"]) for r in records}


@lru_cache(maxsize=64)
def _polygon_cached(unit_id: str, province: str, name: str, members: tuple[str, ...]) -> object:
    if province == "sichuan":
        return _city_polygons(PROVINCE_NAME["sichuan"]).get(name)
    from shapely.ops import unary_union

    wanted = set(members or (name,))
    parts = [g for _, d, g in district_polygons(PROVINCE_NAME["chongqing"], simplify=True)
             if d in wanted]
    return unary_union(parts) if parts else None


def unit_polygon(unit: Unit) -> object | None:
    """The unit's boundary (shapely geometry, degrees WGS 84) from cnmaps, or None if unknown."""
    return _polygon_cached(unit.id, unit.province, unit.name, tuple(unit.members))


def _is_regular(ds: xr.Dataset) -> bool:
    return "latitude" in ds.dims and "longitude" in ds.dims


def _grid_key(ds: xr.Dataset) -> tuple:
    lat, lon = ds["latitude"].values, ds["longitude"].values
    return (lat.shape, lon.shape, float(lat.ravel()[0]), float(lat.ravel()[-1]),
            float(lon.ravel()[0]), float(lon.ravel()[-1]), float(np.nansum(lat)),
            float(np.nansum(lon)))


def unit_weights(ds: xr.Dataset, region: Region,
                 polygons: Mapping[str, object] | None = None) -> xr.DataArray:
    """Area weights of each unit on the grid of ``ds`` (cached per grid and region).

    Returns
    -------
    xr.DataArray
        ``(unit, <grid dims>)``: cos(latitude) for cell centres inside the unit polygon, 0
        outside; all zero for a unit without a polygon. Unitless.
    """
    import shapely

    key = (_grid_key(ds), tuple(region.unit_ids),
           None if polygons is None else tuple(sorted((k, id(v)) for k, v in polygons.items())))
    if key in _MASK_CACHE:
        return _MASK_CACHE[key]
    if _is_regular(ds):
        lon2, lat2 = np.meshgrid(ds["longitude"].values, ds["latitude"].values)
        dims = ("latitude", "longitude")
    else:
        lat2, lon2 = ds["latitude"].values, ds["longitude"].values
        dims = ds["latitude"].dims
    w = np.zeros((len(region.units), *lat2.shape))
    coslat = np.cos(np.deg2rad(lat2))
    for k, u in enumerate(region.units):
        poly = polygons.get(u.id) if polygons is not None else unit_polygon(u)
        if poly is None:
            continue
        inside = shapely.contains_xy(poly, lon2, lat2)
        w[k] = np.where(inside, coslat, 0.0)
    out = xr.DataArray(w, dims=("unit", *dims), coords={"unit": region.unit_ids})
    if _is_regular(ds):
        out = out.assign_coords(latitude=ds["latitude"], longitude=ds["longitude"])
    if len(_MASK_CACHE) > 32:
        _MASK_CACHE.clear()
    _MASK_CACHE[key] = out
    return out


def _fractional_index(ds: xr.Dataset, lon: np.ndarray, lat: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Fractional (y, x) grid indices of points on a curvilinear grid (linear on triangles)."""
    from scipy.interpolate import LinearNDInterpolator

    glat, glon = ds["latitude"].values, ds["longitude"].values
    ny, nx = glat.shape
    yy, xx = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    pts = np.column_stack([glon.ravel(), glat.ravel()])
    f = LinearNDInterpolator(pts, np.column_stack([yy.ravel(), xx.ravel()]))
    idx = f(np.column_stack([lon, lat]))
    return idx[:, 0], idx[:, 1]


def sample_points(ds: xr.Dataset, lon: Sequence[float] | np.ndarray,
                  lat: Sequence[float] | np.ndarray) -> xr.Dataset:
    """Bilinear values of every variable at points (degrees).

    Parameters
    ----------
    ds : xr.Dataset
        ``(time, latitude, longitude)`` regular grid, or a curvilinear grid with 2-D
        ``latitude``/``longitude`` coordinates (e.g. from ``read_wrf``).
    lon, lat : array-like
        Point coordinates, degrees east / north.

    Returns
    -------
    xr.Dataset
        Variables ``(time, point)`` in their original units; points outside the grid are NaN.
    """
    lon = np.atleast_1d(np.asarray(lon, dtype=float))
    lat = np.atleast_1d(np.asarray(lat, dtype=float))
    if lon.shape != lat.shape:
        raise ValueError(f"sample_points: {lon.size} longitudes but {lat.size} latitudes")
    if _is_regular(ds):
        out = ds.interp(latitude=xr.DataArray(lat, dims="point"),
                        longitude=xr.DataArray(lon, dims="point"), method="linear")
        return out.drop_vars(["latitude", "longitude"], errors="ignore")
    from scipy.ndimage import map_coordinates

    ydim, xdim = ds["latitude"].dims
    fy, fx = _fractional_index(ds, lon, lat)
    ok = ~(np.isnan(fy) | np.isnan(fx))
    data = {}
    for v, da in ds.data_vars.items():
        if ydim not in da.dims or xdim not in da.dims:
            continue
        arr = da.transpose(..., ydim, xdim).values
        lead = arr.shape[:-2]
        flat = arr.reshape(-1, *arr.shape[-2:])
        res = np.full((flat.shape[0], lon.size), np.nan)
        for i in range(flat.shape[0]):
            # bilinear in index space; NaN in a corner propagates (order=1 touches 4 cells)
            res[i, ok] = map_coordinates(flat[i], [fy[ok], fx[ok]], order=1, mode="nearest",
                                         prefilter=False)
        other = [d for d in da.dims if d not in (ydim, xdim)]
        data[v] = xr.DataArray(res.reshape(*lead, lon.size), dims=(*other, "point"),
                               coords={d: da[d] for d in other if d in da.coords},
                               attrs=da.attrs)
    return xr.Dataset(data, attrs=ds.attrs)


def sample_units(ds: xr.Dataset, region: Region, stations: pd.DataFrame | None = None,
                 method: str = "auto", *, min_cells: int = 3,
                 polygons: Mapping[str, object] | None = None) -> pd.DataFrame:
    """One meteorological series per forecast unit.

    Parameters
    ----------
    ds : xr.Dataset
        Gridded meteorology with a ``time`` dimension (ERA5 names and units).
    region : Region
        The units.
    stations : DataFrame, optional
        Station table (``station_id, sub_region, lon, lat``); a unit's points are its stations,
        else its seat / centroid.
    method : {"auto", "polygon", "points"}
        ``auto``: area mean when the polygon holds ≥ ``min_cells`` cell centres, else points;
        ``polygon``: area mean where possible (units with no cell fall back to points);
        ``points``: always the mean of bilinear values at the unit's points.
    min_cells : int
        Cells needed for an area mean under ``auto``.
    polygons : mapping, optional
        Unit id → shapely geometry, replacing the cnmaps polygons (tests, custom areas).

    Returns
    -------
    DataFrame
        ``time`` (UTC, tz-aware), ``unit_id``, one column per variable (units unchanged),
        sorted by time then unit order. ``attrs["method"]`` maps each unit id to how it was
        sampled (``polygon`` or ``points``).
    """
    if method not in ("auto", "polygon", "points"):
        raise ValueError(f"sample_units: method {method!r}; expected auto, polygon or points")
    if "time" not in ds.dims:
        raise ValueError("sample_units: the Dataset has no 'time' dimension")
    variables = [v for v, da in ds.data_vars.items() if "time" in da.dims]
    ds = ds[variables]
    if ds.nbytes < 256e6:  # small files (one cycle, a month of a regional grid): load at once
        ds = ds.load()
    use_poly: dict[str, bool] = {}
    if method != "points":
        w = unit_weights(ds, region, polygons)
        grid_dims = [d for d in w.dims if d != "unit"]
        n_cells = (w > 0).sum(grid_dims).values
        for k, u in enumerate(region.units):
            need = min_cells if method == "auto" else 1
            use_poly[u.id] = bool(n_cells[k] >= need)
    else:
        w, grid_dims = None, []
    frames: list[pd.DataFrame] = []
    poly_units = [u.id for u in region.units if use_poly.get(u.id)]
    if poly_units and w is not None:
        ww = w.sel(unit=poly_units)
        means = {}
        for v in variables:
            da = ds[v]
            num = xr.dot(da.fillna(0) * 1.0, ww, dim=grid_dims)
            den = xr.dot(da.notnull() * 1.0, ww, dim=grid_dims)
            means[v] = (num / den.where(den > 0)).transpose("time", "unit")
        res = xr.Dataset(means).compute()
        frames.append(_to_frame(res, "unit", "polygon"))
    pt_units = [u for u in region.units if not use_poly.get(u.id)]
    if pt_units:
        lons, lats, owner = [], [], []
        for u in pt_units:
            st = (stations[stations["sub_region"] == u.id] if stations is not None
                  and len(stations) else None)
            if st is not None and len(st):
                lons += st["lon"].astype(float).tolist()
                lats += st["lat"].astype(float).tolist()
                owner += [u.id] * len(st)
            else:
                lons.append(u.point.lon)
                lats.append(u.point.lat)
                owner.append(u.id)
        pts = sample_points(ds, lons, lats).compute()
        pts = pts.assign_coords(unit=("point", owner)).groupby("unit").mean("point")
        frames.append(_to_frame(pts.transpose("time", "unit"), "unit", "points"))
    out = pd.concat(frames, ignore_index=True)
    order = {uid: i for i, uid in enumerate(region.unit_ids)}
    out["_o"] = out["unit_id"].map(order)
    out = out.sort_values(["time", "_o"], kind="mergesort").drop(columns="_o")
    how = dict(zip(out["unit_id"], out["method"], strict=False))
    out = out.reset_index(drop=True)[["time", "unit_id", *variables]]
    out.attrs["method"] = {u: how[u] for u in region.unit_ids if u in how}
    return out


def _to_frame(res: xr.Dataset, unit_dim: str, how: str) -> pd.DataFrame:
    df = res.to_dataframe().reset_index()
    df = df.rename(columns={unit_dim: "unit_id"})
    t = pd.to_datetime(df["time"])
    df["time"] = t.dt.tz_localize("UTC") if t.dt.tz is None else t.dt.tz_convert("UTC")
    df["method"] = how
    keep = ["time", "unit_id", *[v for v in res.data_vars]]
    return df[keep + ["method"]]
