"""Update the station table (``configs/stations.csv``) from the stations seen in network files.

Input: the station metadata of CNEMC hourly files (:func:`features.readers.cnemc.read_cnemc`,
``station_id, lon, lat, area, positionname``) or a national station list in the PM2.5-GNN
layout (``ID, stations_name, stations_en_name, area, area_en_name, lon, lat``).

Rules (nothing is dropped silently; every decision is in the :class:`StationUpdate` report):

* A seen station not in the table is placed in its unit by the district polygons (offline
  cnmaps boundaries, :func:`features.stations_table.district_polygons`): the county-level
  division containing it → the Sichuan unit of its city, or the Chongqing unit listing the
  district (``members``, or the unit's own name). Stations in no unit are listed as outside the
  domain (not added).
* A listed station seen more than :data:`MOVE_THRESHOLD_M` from its listed position is
  *moved*: its coordinates are updated and it is re-placed (a unit change is reported).
* A listed station seen under another name (``positionname``) is *renamed*: ``name`` is
  updated (``name_en`` kept; check it).
* Listed stations not seen are kept unchanged and listed.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from airwarn.configs.schema import Region
from airwarn.features.stations_table import PROVINCE_NAME, STATION_TABLE_COLUMNS, district_polygons

__all__ = ["MOVE_THRESHOLD_M", "SEEN_COLUMNS", "StationUpdate", "read_seen_stations",
           "locate_units", "update_station_table", "table_diff"]

#: A listed station seen farther than this from its listed position is reported as moved (m).
MOVE_THRESHOLD_M = 500.0
#: Columns of the seen-station table (``name_en`` empty where the file gives none: CNEMC).
SEEN_COLUMNS = ["station_id", "lon", "lat", "area", "positionname", "name_en"]
_EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG), m


@dataclass
class StationUpdate:
    """The result of :func:`update_station_table`.

    Attributes
    ----------
    table : DataFrame
        The updated station table (``STATION_TABLE_COLUMNS``).
    added : DataFrame
        New stations placed in a unit (table columns).
    moved : DataFrame
        ``station_id, name, old_lon, old_lat, lon, lat, distance_m, old_unit, unit``.
    renamed : DataFrame
        ``station_id, old_name, name``.
    outside : DataFrame
        Seen stations in no unit (``SEEN_COLUMNS``): not added.
    not_seen : list of str
        Listed stations absent from the files (kept unchanged).
    units_before, units_after : list of str
        Units with at least one station, before and after.
    """

    table: pd.DataFrame
    added: pd.DataFrame
    moved: pd.DataFrame
    renamed: pd.DataFrame
    outside: pd.DataFrame
    not_seen: list[str] = field(default_factory=list)
    units_before: list[str] = field(default_factory=list)
    units_after: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when the table differs from the one given."""
        return bool(len(self.added) or len(self.moved) or len(self.renamed))


def read_seen_stations(paths: list[Path]) -> pd.DataFrame:
    """Stations seen in CNEMC hourly files or national station lists (the last file wins for a
    station seen several times).

    Raises
    ------
    features.readers.common.ReaderError
        A file that is neither (naming it), or a bad row.
    """
    from airwarn.features.readers.cnemc import is_cnemc_header, read_cnemc
    from airwarn.features.readers.common import ReaderError, read_text

    parts: list[pd.DataFrame] = []
    for p in paths:
        text, _ = read_text(p)
        head = text.lstrip("\ufeff").split("\n", 1)[0].strip()
        if is_cnemc_header(head):
            read_cnemc(p, stations_seen=parts)
        elif head.startswith("ID,stations_name,"):
            from airwarn.features.stations_table import _read_source

            try:
                src = _read_source(Path(p))
            except ValueError as exc:
                raise ReaderError(str(exc)) from None
            parts.append(pd.DataFrame({"station_id": src["ID"].astype(str).str.strip(),
                                       "lon": src["lon"], "lat": src["lat"],
                                       "area": src["area"].astype(str),
                                       "positionname": src["stations_name"].astype(str),
                                       "name_en": src["stations_en_name"].fillna("")
                                       .astype(str).str.strip()}))
        else:
            raise ReaderError(f"{p}: header {head[:60]!r}; expected a CNEMC hourly file "
                              f"(timepoint,stationcode,…) or a station list (ID,stations_name,"
                              f"…,lon,lat)")
    if not parts:
        return pd.DataFrame(columns=SEEN_COLUMNS)
    seen = pd.concat(parts, ignore_index=True)
    seen["name_en"] = seen["name_en"].fillna("") if "name_en" in seen else ""
    return seen.drop_duplicates("station_id", keep="last").sort_values(
        "station_id", kind="mergesort").reset_index(drop=True)[SEEN_COLUMNS]


def _unit_by_district(region: Region) -> dict[tuple[str, str], str]:
    """(province, district or city) → unit id."""
    out: dict[tuple[str, str], str] = {}
    for u in region.units:
        prov = PROVINCE_NAME[u.province]
        for name in [u.name, *u.members]:
            out[(prov, name)] = u.id
    return out


def locate_units(lon: np.ndarray, lat: np.ndarray, region: Region, *, simplify: bool = False
                 ) -> pd.DataFrame:
    """Unit, city and district of points (degrees) by the district polygons.

    Returns
    -------
    DataFrame
        ``unit_id`` (None outside every unit), ``city``, ``district`` ('' when in no polygon of
        the region's provinces), one row per point.
    """
    from shapely import STRtree, points

    by_name = _unit_by_district(region)
    recs = [(prov, city, dist, geom) for prov in sorted({PROVINCE_NAME[u.province]
                                                         for u in region.units})
            for city, dist, geom in district_polygons(prov, simplify)]
    n = len(lon)
    unit = np.full(n, None, dtype=object)
    city = np.full(n, "", dtype=object)
    dist = np.full(n, "", dtype=object)
    if not recs or n == 0:
        return pd.DataFrame({"unit_id": unit, "city": city, "district": dist})
    tree = STRtree([r[3] for r in recs])
    pts = points(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    ok = np.isfinite(lon) & np.isfinite(lat)
    pi, gi = tree.query(pts[ok], predicate="covered_by")
    idx = np.flatnonzero(ok)
    for k, g in zip(pi, gi, strict=True):
        i = idx[k]
        if dist[i]:
            continue  # on a shared border: the first polygon wins
        prov, c, d, _ = recs[g]
        city[i], dist[i] = c, d
        unit[i] = by_name.get((prov, d)) or by_name.get((prov, c))
    return pd.DataFrame({"unit_id": unit, "city": city, "district": dist})


def _distance_m(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray
                ) -> np.ndarray:
    """Great-circle distance (haversine), m."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * \
        np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 2 * _EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def update_station_table(table: pd.DataFrame, seen: pd.DataFrame, region: Region, *,
                         simplify: bool = False, move_threshold_m: float = MOVE_THRESHOLD_M
                         ) -> StationUpdate:
    """Extend and correct the station table with the stations seen.

    Parameters
    ----------
    table : DataFrame
        The current table (``STATION_TABLE_COLUMNS``; may be empty).
    seen : DataFrame
        ``SEEN_COLUMNS`` (:func:`read_seen_stations`); lon/lat degrees.
    region : Region
    simplify : bool
        Simplified district polygons (faster, less exact near borders).
    move_threshold_m : float
        Distance above which a listed station counts as moved (m).

    Returns
    -------
    StationUpdate
    """
    table = table[STATION_TABLE_COLUMNS].copy().reset_index(drop=True)
    table["station_id"] = table["station_id"].astype(str)
    listed = set(table["station_id"])
    seen = seen.dropna(subset=["lon", "lat"]).reset_index(drop=True)
    if "name_en" not in seen:
        seen = seen.assign(name_en="")
    where = locate_units(seen["lon"].to_numpy(float), seen["lat"].to_numpy(float), region,
                         simplify=simplify)
    seen = pd.concat([seen, where], axis=1)
    new = seen[~seen["station_id"].isin(listed)]
    inside = new[new["unit_id"].notna()]
    added = pd.DataFrame({"station_id": inside["station_id"], "name": inside["positionname"],
                          "name_en": inside["name_en"] if "name_en" in inside else "",
                          "city": inside["city"], "district": inside["district"],
                          "sub_region": inside["unit_id"], "lon": inside["lon"],
                          "lat": inside["lat"]}, columns=STATION_TABLE_COLUMNS)
    outside = new[new["unit_id"].isna()][SEEN_COLUMNS].reset_index(drop=True)
    old = seen[seen["station_id"].isin(listed)].set_index("station_id")
    tab = table.set_index("station_id")
    moved_rows, renamed_rows = [], []
    for sid, r in old.iterrows():
        cur = tab.loc[sid]
        d = float(_distance_m(np.array([cur["lon"]], float), np.array([cur["lat"]], float),
                              np.array([r["lon"]], float), np.array([r["lat"]], float))[0])
        if d > move_threshold_m or (math.isnan(d) and not math.isnan(float(r["lon"]))):
            unit = r["unit_id"] if r["unit_id"] is not None else cur["sub_region"]
            moved_rows.append({"station_id": sid, "name": cur["name"], "old_lon": cur["lon"],
                               "old_lat": cur["lat"], "lon": r["lon"], "lat": r["lat"],
                               "distance_m": round(d), "old_unit": cur["sub_region"],
                               "unit": unit})
            tab.loc[sid, ["lon", "lat", "sub_region"]] = [r["lon"], r["lat"], unit]
            if r["district"]:
                tab.loc[sid, "district"] = r["district"]
        name = str(r["positionname"]).strip()
        if name and name != str(cur["name"]):
            renamed_rows.append({"station_id": sid, "old_name": cur["name"], "name": name})
            tab.loc[sid, "name"] = name
    out = pd.concat([tab.reset_index(), added], ignore_index=True)[STATION_TABLE_COLUMNS]
    order = {u: i for i, u in enumerate(region.unit_ids)}
    out = out.assign(_o=out["sub_region"].map(order)).sort_values(
        ["_o", "station_id"], kind="mergesort").drop(columns="_o").reset_index(drop=True)
    return StationUpdate(
        table=out, added=added.reset_index(drop=True),
        moved=pd.DataFrame(moved_rows, columns=["station_id", "name", "old_lon", "old_lat", "lon",
                                                "lat", "distance_m", "old_unit", "unit"]),
        renamed=pd.DataFrame(renamed_rows, columns=["station_id", "old_name", "name"]),
        outside=outside,
        not_seen=sorted(listed - set(seen["station_id"])),
        units_before=[u for u in region.unit_ids if u in set(table["sub_region"])],
        units_after=[u for u in region.unit_ids if u in set(out["sub_region"])])


def table_diff(old_text: str, new_text: str, path: str = "stations.csv") -> str:
    """A unified diff of two station-table CSV texts."""
    return "".join(difflib.unified_diff(old_text.splitlines(keepends=True),
                                        new_text.splitlines(keepends=True),
                                        fromfile=f"{path} (now)", tofile=f"{path} (updated)"))
