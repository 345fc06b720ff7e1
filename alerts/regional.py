"""Regional joint warnings (区域联动) on the unit graph (domain-spec T2.3, T2.4).

Two rules, both pure functions of the units' warning levels and the region graph:

* **contiguous regional warning** — when at least ``min_contiguous`` units that touch one another
  across administrative borders (``Region.neighbours(uid, kinds=("border",))``) are at a level or
  higher, the group gets a regional warning of that level (Sichuan: ≥ 5 contiguous cities, S14, V2).
  With scope ``joint_area`` contiguity crosses the Sichuan–Chongqing border;
* **cross-border joint warning** — when a border-belt unit reaches a level that its border or
  transport-channel neighbours on the other side have not, a joint warning names the units on both
  sides that must act (川渝 joint mechanism, S11). The border never hides an episode.

Levels are the names of :data:`configs.warning_schema.LEVELS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from airwarn.configs.schema import Region
from airwarn.configs.warning_schema import LEVEL_RANK, LEVEL_ZH

__all__ = ["RegionalFinding", "clause_level", "contiguous_groups", "regional_findings",
           "cross_border_findings"]

_PROV_ZH = {"sichuan": "四川", "chongqing": "重庆"}
_PROV_EN = {"sichuan": "Sichuan", "chongqing": "Chongqing"}


@dataclass(frozen=True)
class RegionalFinding:
    """A regional (``contiguous``) or cross-border (``joint``) warning finding.

    Attributes
    ----------
    kind : {"contiguous", "joint"}
    level : str
    unit_ids : tuple of str
        Every unit concerned, sorted (the group; or the source unit plus the acting units).
    source_units : tuple of str
        Units whose own level raised the finding.
    acting_units : tuple of str
        Units that must act at ``level`` although their own level is lower (joint only).
    reason_zh, reason_en : str
    """

    kind: str
    level: str
    unit_ids: tuple[str, ...]
    source_units: tuple[str, ...]
    acting_units: tuple[str, ...] = ()
    reason_zh: str = ""
    reason_en: str = ""
    levels: dict[str, str] = field(default_factory=dict)


def contiguous_groups(unit_ids: Iterable[str], region: Region,
                      kinds: tuple[str, ...] = ("border",)) -> list[tuple[str, ...]]:
    """Connected components of ``unit_ids`` in the region graph restricted to them.

    Returns
    -------
    list of tuple of str
        Components (sorted ids), largest first, then by first id.
    """
    members = set(unit_ids)
    seen: set[str] = set()
    groups: list[tuple[str, ...]] = []
    for start in sorted(members):
        if start in seen:
            continue
        stack, comp = [start], set()
        while stack:
            u = stack.pop()
            if u in comp:
                continue
            comp.add(u)
            stack.extend(v for v in region.neighbours(u, kinds=kinds) if v in members and v not in comp)
        seen |= comp
        groups.append(tuple(sorted(comp)))
    return sorted(groups, key=lambda g: (-len(g), g))


def _names(region: Region, ids: Iterable[str], en: bool = False) -> str:
    return ("、" if not en else ", ").join(
        region.unit(u).name_en if en else region.unit(u).name for u in ids)


def clause_level(group_levels: Mapping[str, str], base: str, max_higher: int,
                 order: tuple[str, ...] = ("yellow", "orange", "red")) -> str:
    """Regional level of a contiguous group under the "≤ ``max_higher`` at a higher level" clause
    (Sichuan 2016, S14; reading U, stated in ``configs/warning/sichuan-2024.yaml``): starting at
    ``base``, the lowest level of ``order`` at which at most ``max_higher`` members are above it."""
    lv = base
    while lv != order[-1]:
        higher = sum(LEVEL_RANK.get(x, 0) > LEVEL_RANK[lv] for x in group_levels.values())
        if higher <= max_higher:
            break
        lv = order[order.index(lv) + 1]
    return lv


def regional_findings(levels: Mapping[str, str], region: Region, *, min_contiguous: int = 5,
                      scope: str = "joint_area",
                      check_levels: tuple[str, ...] = ("red", "orange", "yellow"),
                      max_higher: int | None = None) -> list[RegionalFinding]:
    """Regional warnings: groups of ≥ ``min_contiguous`` border-contiguous units at a level.

    Parameters
    ----------
    levels : mapping
        Unit id → level in force (``none`` … ``red``).
    region : Region
    min_contiguous : int
        Minimum group size (Sichuan 2016: 5 prefecture cities).
    scope : {"joint_area", "province"}
        ``province``: groups are formed within each province only.
    check_levels : tuple of str
        Levels checked, highest first; a group already raised at a higher level with the same
        members is not repeated at a lower one.
    max_higher : int, optional
        The "≤ n at a higher level" clause (:func:`clause_level`): one finding per contiguous
        group at the lowest checked level or higher, at the level the clause gives; None: a
        finding at every checked level at which a group qualifies (nested groups).
    """
    out: list[RegionalFinding] = []
    emitted: set[tuple[str, ...]] = set()
    partitions = ([None] if scope == "joint_area" else sorted({u.province for u in region.units}))
    if max_higher is not None:
        base = check_levels[-1]
        order = tuple(reversed(check_levels))
        for prov in partitions:
            ids = [u for u, x in levels.items() if LEVEL_RANK.get(x, 0) >= LEVEL_RANK[base]
                   and (prov is None or region.unit(u).province == prov)]
            for g in contiguous_groups(ids, region):
                if len(g) < min_contiguous:
                    continue
                lv = clause_level({u: levels[u] for u in g}, base, max_higher, order)
                n_hi = sum(LEVEL_RANK.get(levels[u], 0) > LEVEL_RANK[lv] for u in g)
                zh = (f"{len(g)} 个相邻区域（{_names(region, g)}）达到黄色及以上预警（≥ {min_contiguous} "
                      f"个连片），其中高于{LEVEL_ZH[lv]}的 {n_hi} 个（≤ {max_higher}），"
                      f"启动区域{LEVEL_ZH[lv]}，统一协调应对。")
                en = (f"{len(g)} contiguous units ({_names(region, g, True)}) at yellow or higher "
                      f"(≥ {min_contiguous} contiguous), {n_hi} of them above {lv} "
                      f"(≤ {max_higher}): regional {lv} warning with coordinated response.")
                out.append(RegionalFinding("contiguous", lv, g, g, (), zh, en,
                                           {u: levels[u] for u in g}))
        return out
    for lv in check_levels:
        for prov in partitions:
            ids = [u for u, x in levels.items() if LEVEL_RANK.get(x, 0) >= LEVEL_RANK[lv]
                   and (prov is None or region.unit(u).province == prov)]
            for g in contiguous_groups(ids, region):
                if len(g) < min_contiguous or g in emitted:
                    continue
                emitted.add(g)
                provs = sorted({region.unit(u).province for u in g})
                zh = (f"{len(g)} 个相邻区域（{_names(region, g)}）同时达到{LEVEL_ZH[lv]}"
                      f"启动条件（≥ {min_contiguous} 个连片），"
                      + ("跨川渝两省市，" if len(provs) > 1 else "")
                      + f"启动区域{LEVEL_ZH[lv]}，统一协调应对。")
                en = (f"{len(g)} contiguous units ({_names(region, g, True)}) reach {lv} "
                      f"(≥ {min_contiguous} contiguous)"
                      + (", across the Sichuan–Chongqing border" if len(provs) > 1 else "")
                      + f": regional {lv} warning with coordinated response.")
                out.append(RegionalFinding("contiguous", lv, g, g, (), zh, en,
                                           {u: levels[u] for u in g}))
    return out


def cross_border_findings(levels: Mapping[str, str], region: Region, *,
                          kinds: tuple[str, ...] = ("border", "channel"),
                          min_level: str = "yellow") -> list[RegionalFinding]:
    """Joint warnings where a border-belt unit's level is not matched across the border.

    For every border-belt unit at ``min_level`` or higher, its neighbours of ``kinds`` in the other
    province whose level is lower must act at the unit's level; the finding names both sides.
    """
    out: list[RegionalFinding] = []
    for u in region.units:
        lv = levels.get(u.id, "none")
        if not u.border_belt or LEVEL_RANK.get(lv, 0) < LEVEL_RANK[min_level]:
            continue
        acting = sorted(v for v in region.neighbours(u.id, kinds=kinds)
                        if region.unit(v).province != u.province
                        and LEVEL_RANK.get(levels.get(v, "none"), 0) < LEVEL_RANK[lv])
        if not acting:
            continue
        kind_of = {n.id: n.kind for n in u.neighbours}
        for w in region.units:
            for n in w.neighbours:
                if n.id == u.id:
                    kind_of.setdefault(w.id, n.kind)
        other = region.unit(acting[0]).province
        parts_zh = "、".join(
            f"{region.unit(v).name}（{'传输通道' if kind_of.get(v) == 'channel' else '接壤'}，"
            f"当前{LEVEL_ZH[levels.get(v, 'none')]}）" for v in acting)
        parts_en = ", ".join(
            f"{region.unit(v).name_en} ({'transport channel' if kind_of.get(v) == 'channel' else 'shared border'}, "
            f"now {levels.get(v, 'none')})" for v in acting)
        zh = (f"川渝联动：{_PROV_ZH[u.province]}毗邻地区{u.name}达到{LEVEL_ZH[lv]}，"
              f"{_PROV_ZH[other]}侧相邻地区 {parts_zh} 未达到同级，"
              f"两侧须按{LEVEL_ZH[lv]}同步采取应急减排措施（{u.name}、{_names(region, acting)}）。")
        en = (f"Sichuan–Chongqing joint warning: border-belt unit {u.name_en} ({_PROV_EN[u.province]}) "
              f"is at {lv}; across the border {parts_en} are not: units on both sides "
              f"({u.name_en}, {_names(region, acting, True)}) must act at {lv}.")
        out.append(RegionalFinding("joint", lv, tuple(sorted([u.id, *acting])), (u.id,),
                                   tuple(acting), zh, en,
                                   {x: levels.get(x, "none") for x in [u.id, *acting]}))
    return out
