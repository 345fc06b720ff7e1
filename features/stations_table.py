"""Build the station table (``configs/stations.csv``) from the national station list.

Source list: ``station_info.csv`` of the PM2.5-GNN project (Wang et al. 2020, SIGSPATIAL '20; MIT
licence; national monitoring stations circa 2015; columns ``ID, stations_name, stations_en_name,
area, area_en_name, lon, lat``). Administrative boundaries: the offline ``cnmaps`` package
(district polygons, WGS 84).

Rules
-----
* A Sichuan station belongs to the unit of its city (``area`` + 市 = the unit's Chinese name).
* A Chongqing station belongs to the unit whose member district contains its coordinates
  (district polygon from cnmaps); if no district polygon contains it (boundary data missing, point
  just outside a coastline-like river edge) the nearest Chongqing unit point (seat, else centroid)
  is used. Chongqing 1414A–1430A thus mostly land in ``cq_central`` (中心城区).
* Stations of cities outside the region's units (e.g. 凉山州, 阿坝州, 遵义, 安康) are not included.
* ``district`` is the county-level division containing the station (cnmaps), empty when unknown.

Units without any listed station are reported by ``airwarn config``; the demo world places a
seat station ``seat_<unit_id>`` for them.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import pandas as pd
from airwarn.configs.schema import Region, Unit

__all__ = [
    "STATION_TABLE_COLUMNS",
    "SOURCE_COLUMNS",
    "PROVINCE_NAME",
    "district_polygons",
    "locate_district",
    "build_station_table",
    "write_station_table",
]

STATION_TABLE_COLUMNS = ["station_id", "name", "name_en", "city", "district", "sub_region",
                         "lon", "lat"]
SOURCE_COLUMNS = ["ID", "stations_name", "stations_en_name", "area", "area_en_name", "lon", "lat"]
#: Full Chinese province names as cnmaps spells them.
PROVINCE_NAME = {"sichuan": "四川省", "chongqing": "重庆市"}


@lru_cache(maxsize=8)
def district_polygons(province: str, simplify: bool = False) -> tuple[tuple[str, str, object], ...]:
    """County-level polygons of a province from the offline cnmaps data.

    Parameters
    ----------
    province : str
        Full Chinese name (``"四川省"``, ``"重庆市"``).
    simplify : bool
        Simplified boundaries (cnmaps ``simplify=True``: ~4× faster to load; for area means).

    Returns
    -------
    tuple of (city, district, shapely geometry)
        Coordinates in degrees (WGS 84). Empty when cnmaps is not installed or has no data.
    """
    try:
        from cnmaps import get_adm_maps
    except ImportError:  # pragma: no cover - cnmaps is a dependency
        return ()
    try:
        records = get_adm_maps(province=province, level="区县", simplify=simplify)
    except Exception:  # noqa: BLE001 - MapNotFoundError and friends: no boundary data
        return ()
    out = []
    for r in records:
        geom = getattr(r["geometry"], "geom", r["geometry"])
        out.append((str(r["city"]), str(r["district"]), geom))
    return tuple(out)


def locate_district(lon: float, lat: float, province: str) -> tuple[str, str] | None:
    """The (city, district) of ``province`` whose polygon contains the point (degrees), or None."""
    from shapely.geometry import Point

    pt = Point(lon, lat)
    for city, district, geom in district_polygons(province):
        if geom.covers(pt):  # type: ignore[attr-defined]
            return city, district
    return None


def _nearest_unit(lon: float, lat: float, units: list[Unit]) -> Unit:
    def dist(u: Unit) -> float:
        p = u.point
        return math.hypot((p.lon - lon) * math.cos(math.radians(lat)), p.lat - lat)

    return min(units, key=dist)


def _read_source(path: Path) -> pd.DataFrame:
    """Read a national station list, refusing rows that would enter the table damaged.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        A missing column, a short or long row, an empty or repeated ``ID``, or a ``lon`` /
        ``lat`` that is not a number — naming the file, the line and the column.
    """
    from airwarn.features.readers.common import read_csv_strict, read_text

    if not Path(path).is_file():
        raise FileNotFoundError(f"station list not found: {path}")
    text, _ = read_text(path)
    df = read_csv_strict(text, path)
    line = df.pop("_line").to_numpy()
    missing = [c for c in SOURCE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {SOURCE_COLUMNS}")
    df["ID"] = df["ID"].str.strip()
    empty = (df["ID"] == "").to_numpy()
    if empty.any():
        raise ValueError(f"{path}, line {int(line[empty.argmax()])}, column 'ID': empty station "
                         f"code; expected e.g. 1001A")
    first = df.groupby("ID", sort=False).cumcount().to_numpy() > 0
    if first.any():
        i = int(first.argmax())
        j = int((df["ID"] == df["ID"].iloc[i]).to_numpy().argmax())
        raise ValueError(f"{path}, line {int(line[i])}, column 'ID': station {df['ID'].iloc[i]} "
                         f"listed again (first on line {int(line[j])}); expected one row per "
                         f"station")
    for c in ("lon", "lat"):
        bad = pd.to_numeric(df[c].str.strip(), errors="coerce").isna().to_numpy()
        if bad.any():
            i = int(bad.argmax())
            cell = df[c].iloc[i].strip()
            raise ValueError(f"{path}, line {int(line[i])}: column {c!r} is "
                             f"{repr(cell) if cell else 'empty'}; expected decimal degrees")
        df[c] = df[c].astype(float)
    return df


def build_station_table(station_info_csv: Path | str, region: Region) -> pd.DataFrame:
    """Assign the listed national stations to the region's units.

    Parameters
    ----------
    station_info_csv : path-like
        The PM2.5-GNN ``station_info.csv`` (``ID, stations_name, stations_en_name, area,
        area_en_name, lon, lat``; lon/lat in degrees).
    region : Region
        The joint area (``configs.load_region()``).

    Returns
    -------
    DataFrame
        ``station_id, name, name_en, city, district, sub_region, lon, lat`` sorted by
        ``sub_region`` (configuration order) then ``station_id``; only stations inside a unit.
    """
    path = Path(station_info_csv)
    src = _read_source(path)
    sichuan = {u.name: u for u in region.units if u.province == "sichuan"}
    cq_units = [u for u in region.units if u.province == "chongqing"]
    cq_by_district: dict[str, Unit] = {}
    for u in cq_units:
        for name in [u.name, *u.members]:
            cq_by_district[name] = u
    rows = []
    for r in src.itertuples(index=False):
        area = str(r.area)
        lon, lat = float(r.lon), float(r.lat)
        if area in ("重庆", "重庆市"):
            found = locate_district(lon, lat, PROVINCE_NAME["chongqing"])
            district = found[1] if found else ""
            unit = cq_by_district.get(district)
            if unit is None:
                if found is not None:
                    continue  # a Chongqing district outside the joint area's units
                unit = _nearest_unit(lon, lat, cq_units)
            city = "重庆市"
        else:
            city = area if area in sichuan else f"{area}市"
            unit = sichuan.get(city)
            if unit is None:
                continue  # a city / prefecture outside the joint area
            found = locate_district(lon, lat, PROVINCE_NAME["sichuan"])
            district = found[1] if found else ""
        rows.append({"station_id": str(r.ID), "name": str(r.stations_name),
                     "name_en": str(r.stations_en_name), "city": city, "district": district,
                     "sub_region": unit.id, "lon": lon, "lat": lat})
    out = pd.DataFrame(rows, columns=STATION_TABLE_COLUMNS)
    order = {uid: i for i, uid in enumerate(region.unit_ids)}
    out["_o"] = out["sub_region"].map(order)
    return (out.sort_values(["_o", "station_id"]).drop(columns="_o").reset_index(drop=True))


def write_station_table(table: pd.DataFrame, path: Path | str) -> Path:
    """Write the station table as UTF-8 CSV atomically (lon/lat with 4 decimals, degrees)."""
    from airwarn.features.atomic import write_text_atomic

    text = table[STATION_TABLE_COLUMNS].to_csv(index=False, float_format="%.4f",
                                                lineterminator="\n")
    return write_text_atomic(path, text)


if __name__ == "__main__":  # pragma: no cover - regeneration helper
    import sys

    from airwarn import configs

    src = sys.argv[1] if len(sys.argv) > 1 else \
        "/work/shared/datasets/station_coords_pm25gnn/station_info.csv"
    reg = configs.load_region()
    table = build_station_table(src, reg)
    out = write_station_table(table, configs.CONFIG_DIR / "stations.csv")
    empty = [u for u in reg.unit_ids if u not in set(table["sub_region"])]
    print(f"{len(table)} stations in {table['sub_region'].nunique()} units -> {out}")
    print(f"units without a listed station: {empty}")
