"""The bad-input corpus: every case ends in one clear message, a non-zero exit and an unchanged store.

Each case runs the real CLI in-process (typer's ``CliRunner``) against the corpus store
(``conftest.corpus_store``: demo-world observations and meteorology, a forecast, its warnings,
an override and the register) and, for configuration cases, against an edited copy of
``configs/``. It asserts

- the exit code (2 bad input, 1 the run cannot be done, see ``flows.errors``),
- the key part of the message (which file / line / option / variable and what was expected),
- that no traceback was printed,
- that the store is byte-for-byte unchanged (SHA-256 of every file before and after).

Other helpers add cases for their new readers by appending to :data:`CASES`.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml
from typer.testing import CliRunner

from airwarn import configs
from tests.corpus.conftest import store_digest

INGEST = Path(__file__).resolve().parents[1] / "data" / "ingest"


@dataclass
class Case:
    """One bad input.

    ``args`` may use ``{data}`` (the store), ``{tmp}`` (this case's scratch directory) and
    ``{ingest}`` (tests/data/ingest). ``configs`` edits a copy of ``configs/`` (given its path);
    ``files`` are written into ``{tmp}`` first (str → text, bytes → bytes, callable(path) → any).
    """

    id: str
    args: list[str]
    message: str
    code: int = 2
    configs: Callable[[Path], None] | None = None
    files: dict[str, str | bytes | Callable[[Path], None]] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    area: str = "options"


# ------------------------------------------------------------------------ config edits
def _yaml(name: str, fn: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        p = d / name
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
        fn(data)
        p.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return edit


def _text(name: str, fn: Callable[[str], str]) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        p = d / name
        p.write_text(fn(p.read_text(encoding="utf-8")), encoding="utf-8")
    return edit


def _delete(name: str) -> Callable[[Path], None]:
    return lambda d: (d / name).unlink()


def _set(path: str, value) -> Callable[[dict], None]:
    def fn(data: dict) -> None:
        keys = path.split(".")
        node = data
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
        last = keys[-1]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return fn


def _swap_levels(data: dict) -> None:
    data["levels"][0], data["levels"][1] = data["levels"][1], data["levels"][0]


def _station_line(line: int, col: str, value: str) -> Callable[[str], str]:
    def fn(text: str) -> str:
        lines = text.splitlines()
        head = lines[0].split(",")
        cells = lines[line - 1].split(",")
        cells[head.index(col)] = value
        lines[line - 1] = ",".join(cells)
        return "\n".join(lines) + "\n"
    return fn


def _nc_no_era5(p: Path) -> None:
    xr.Dataset({"foo": (("time",), [1.0])},
               coords={"time": [np.datetime64("2026-01-01")]}).to_netcdf(p / "noera5.nc")


def _nc_furlong(p: Path) -> None:
    xr.Dataset({"sp": (("time", "latitude", "longitude"), [[[950.0]]], {"units": "furlong"})},
               coords={"time": [np.datetime64("2026-01-01")], "latitude": [30.0],
                       "longitude": [104.0]}).to_netcdf(p / "furlong.nc")


LONG_HEAD = "time,station_id,pollutant,value,unit\n"

CFG = ["config"]
CASES: list[Case] = [
    # -------------------------------------------------------------- configs
    Case("ladder-thresholds-inverted", CFG, r"thresholds inverted: level 'yellow'",
         configs=_yaml("warning/national-2024.yaml",
                       _set("levels.1.any_of.0.all_of.0.value", 150)), area="configs"),
    Case("ladder-yellow-above-orange", CFG, r"national-2024.yaml.*thresholds inverted",
         configs=_yaml("warning/national-2024.yaml",
                       lambda d: d["levels"][0]["any_of"][0]["all_of"][0].update(value=300,
                                                                                 hours=72)),
         area="configs"),
    Case("ladder-day-mode-30-hours", CFG,
         r"national-2024.yaml.*level 'yellow' condition .*30 h in a day-mode ladder",
         configs=_yaml("warning/national-2024.yaml", _set("levels.0.any_of.0.all_of.0.hours", 30)),
         area="configs"),
    Case("ladder-levels-swapped", CFG, r"levels must be listed lowest first",
         configs=_yaml("warning/national-2024.yaml", _swap_levels), area="configs"),
    Case("ladder-level-without-condition", CFG, r"level 'orange' has no conditions",
         configs=_yaml("warning/national-2024.yaml", _set("levels.1.any_of", [])),
         area="configs"),
    Case("ladder-id-not-file-name", CFG, r"id 'national-2023' must equal the file name",
         configs=_yaml("warning/national-2024.yaml", _set("id", "national-2023")),
         area="configs"),
    Case("ladder-bad-operator", CFG, r"national-2024.yaml.*op",
         configs=_yaml("warning/national-2024.yaml",
                       _set("levels.0.any_of.0.all_of.0.op", "=>")), area="configs"),
    Case("unit-ladder-path-escape", CFG, r"unit 'cq_central' .* names warning ladder "
         r"'\.\./\.\./x', which does not exist; known ladders",
         configs=_yaml("region.yaml", _set("units.0.ladder", "../../x")), area="configs"),
    Case("unit-ladder-unknown", CFG, r"names warning ladder 'national-2099', which does not "
         r"exist",
         configs=_yaml("region.yaml", _set("units.0.ladder", "national-2099")), area="configs"),
    Case("stations-deleted", CFG, r"station table not found: .*stations.csv",
         configs=_delete("stations.csv"), area="configs"),
    Case("stations-duplicate-id", CFG, r"stations.csv, line 3: duplicate station_id '1414A' "
         r"\(first on line 2\)",
         configs=_text("stations.csv", lambda t: t.replace("1415A,", "1414A,", 1)),
         area="configs"),
    Case("stations-lon-not-numeric", CFG, r"stations.csv, line 3, column lon: station 1415A "
         r"has '106\.4600x'; expected a number",
         configs=_text("stations.csv", _station_line(3, "lon", "106.4600x")), area="configs"),
    Case("stations-lat-out-of-range", CFG, r"stations.csv, line 2: station 1414A has bad "
         r"coordinates", configs=_text("stations.csv", _station_line(2, "lat", "95")),
         area="configs"),
    Case("stations-unknown-unit", CFG, r"line 2: station 1414A lies in no unit",
         configs=_text("stations.csv", _station_line(2, "sub_region", "lhasa")),
         area="configs"),
    Case("stations-empty-id", CFG, r"stations.csv, line 2: empty station_id",
         configs=_text("stations.csv", _station_line(2, "station_id", "")), area="configs"),
    Case("stations-missing-column", CFG, r"stations.csv: missing columns \['lat'\]",
         configs=_text("stations.csv", lambda t: "\n".join(",".join(x.split(",")[:-1])
                                                           for x in t.splitlines()) + "\n"),
         area="configs"),
    Case("timezone-unknown", CFG, r"timezone: Value error, unknown time zone 'Mars/Olympus'",
         configs=_yaml("settings.yaml", _set("timezone", "Mars/Olympus")), area="configs"),
    Case("issue-hour-25", CFG, r"issue_hours: .*0–23",
         configs=_yaml("settings.yaml", _set("issue_hours", [5, 25])), area="configs"),
    Case("quantiles-without-median", CFG, r"quantiles: .*include 0.5",
         configs=_yaml("settings.yaml", _set("quantiles", [0.1, 0.9])), area="configs"),
    Case("horizon-9-days", CFG, r"horizon_days: .*less than or equal to 5",
         configs=_yaml("settings.yaml", _set("horizon_days", 9)), area="configs"),
    Case("settings-typo-key", CFG, r"settings.yaml:.*horizon_day: Extra inputs are not permitted",
         configs=_yaml("settings.yaml", _set("horizon_day", 3)), area="configs"),
    Case("settings-yaml-syntax", CFG, r"settings.yaml: not valid YAML",
         configs=_text("settings.yaml", lambda t: t + "\nissue_hours: [5, 15\n"),
         area="configs"),
    Case("settings-not-mapping", CFG, r"settings.yaml: expected a mapping at the top level",
         configs=_text("settings.yaml", lambda t: "- 1\n- 2\n"), area="configs"),
    Case("warning-trigger-unknown", CFG, r"warning_trigger: Input should be 'median' or "
         r"'probability'", configs=_yaml("settings.yaml", _set("warning_trigger", "sometimes")),
         area="configs"),
    Case("warning-probability-1.5", CFG, r"warning_probability: Input should be less than 1",
         configs=_yaml("settings.yaml", _set("warning_probability", 1.5)), area="configs"),
    Case("region-duplicate-unit", CFG, r"duplicate unit ids: \['jiangjin'\]",
         configs=_yaml("region.yaml", lambda d: d["units"].append(dict(d["units"][1]))),
         area="configs"),
    Case("region-unknown-neighbour", CFG, r"names neighbour 'atlantis', which is not a unit",
         configs=_yaml("region.yaml", lambda d: d["units"][0]["neighbours"].append(
             {"id": "atlantis"})), area="configs"),
    Case("region-missing", CFG, r"configuration file not found: .*region.yaml",
         configs=_delete("region.yaml"), area="configs"),
    Case("policy-unknown-key", CFG, r"policy.yaml:.*hysterisis_runs: Extra inputs",
         configs=_yaml("warning/policy.yaml", _set("hysterisis_runs", 2)), area="configs"),
    # ----------------------------------------------------- environment overrides
    Case("env-horizon-9", CFG, r"horizon_days", env={"AIRWARN_HORIZON_DAYS": "9"},
         area="overrides"),
    Case("env-timezone-unknown", CFG, r"unknown time zone 'Mars/Olympus'",
         env={"AIRWARN_TIMEZONE": "Mars/Olympus"}, area="overrides"),
    Case("env-trigger-unknown", CFG, r"warning_trigger: Input should be",
         env={"AIRWARN_WARNING_TRIGGER": "sometimes"}, area="overrides"),
    Case("env-issue-hours-24", CFG, r"issue hours must be 0–23 \(local\), got \[24\]",
         env={"AIRWARN_ISSUE_HOURS": "[24]"}, area="overrides"),
    Case("env-quantiles-text", CFG, r"quantiles",
         env={"AIRWARN_QUANTILES": "lots"}, area="overrides"),
    # ---------------------------------------------------------- delivery settings
    Case("smtp-plaintext-password", CFG, r"smtp_starttls is false but a password is set "
         r"\(AIRWARN_SMTP_PASSWORD\): it would be sent in clear",
         configs=_yaml("settings.yaml", _set("delivery", {
             "dry_run": True, "smtp_host": "mail.example.test", "smtp_starttls": False,
             "mail_from": "a@example.test", "mail_to": ["b@example.test"]})),
         env={"AIRWARN_SMTP_USER": "duty", "AIRWARN_SMTP_PASSWORD": "s3cret"}, area="delivery"),
    Case("webhook-plain-http", CFG, r"AIRWARN_WEBHOOK_URL is a plain http:// URL",
         configs=_yaml("settings.yaml", _set("delivery", {
             "dry_run": True, "webhook_url_env": "AIRWARN_WEBHOOK_URL"})),
         env={"AIRWARN_WEBHOOK_URL": "http://hooks.example.test/send?key=abc"},
         area="delivery"),
    Case("webhook-ftp", CFG, r"AIRWARN_WEBHOOK_URL must be an http\(s\) URL",
         configs=_yaml("settings.yaml", _set("delivery", {
             "dry_run": True, "webhook_url_env": "AIRWARN_WEBHOOK_URL"})),
         env={"AIRWARN_WEBHOOK_URL": "ftp://hooks.example.test/x"}, area="delivery"),
    Case("mail-to-without-host", CFG, r"delivery.smtp_host is not set but delivery.mail_to is",
         configs=_yaml("settings.yaml", _set("delivery", {
             "dry_run": True, "mail_from": "a@example.test", "mail_to": ["b@example.test"]})),
         area="delivery"),
    Case("host-without-mail-to", CFG, r"delivery.mail_to is empty but delivery.smtp_host is set",
         configs=_yaml("settings.yaml", _set("delivery", {
             "dry_run": True, "smtp_host": "mail.example.test", "mail_from": "a@example.test"})),
         area="delivery"),
    Case("delivery-retries-50", CFG, r"delivery.retries: Input should be less than or equal "
         r"to 10", configs=_yaml("settings.yaml", _set("delivery.retries", 50)),
         area="delivery"),
    Case("delivery-live-without-credentials", CFG, r"credential AIRWARN_SMTP_PASSWORD is not "
         r"set", configs=_yaml("settings.yaml", _set("delivery", {
             "dry_run": False, "smtp_host": "mail.example.test", "mail_from": "a@example.test",
             "mail_to": ["b@example.test"], "smtp_user_env": "CORPUS_NO_USER",
             "smtp_password_env": "AIRWARN_SMTP_PASSWORD"})),
         env={"AIRWARN_SMTP_PASSWORD": ""}, area="delivery"),
    Case("delivery-password-in-yaml", CFG, r"delivery.smtp_password: Extra inputs are not "
         r"permitted", configs=_yaml("settings.yaml", _set("delivery.smtp_password", "plain")),
         area="delivery"),
    # ------------------------------------------------------------ command options
    Case("forecast-issue-garbage", ["forecast", "--issue-time", "garbage"],
         r"Invalid value for --issue-time: issue time 'garbage': expected ISO 8601"),
    Case("forecast-issue-empty", ["forecast", "--issue-time", ""],
         r"Invalid value for --issue-time: issue time '': expected ISO 8601"),
    Case("forecast-issue-not-on-hour", ["forecast", "--issue-time", "2026-01-20T15:30"],
         r"--issue-time: issue time '2026-01-20T15:30': must be on the hour"),
    Case("forecast-met-bogus", ["forecast", "--issue-time", "2026-01-20T15:00", "--met", "bogus"],
         r"Invalid value for --met: expected one of cycles, demo, perfect, none, got 'bogus'"),
    Case("forecast-2099", ["forecast", "--issue-time", "2099-01-20T15:00", "--met", "none"],
         r"no observations in .*obs in the 75 days before 2099-01-20 15:00: every unit would be "
         r"a climatology baseline", code=1),
    Case("train-until-garbage", ["train", "--until", "garbage"],
         r"Invalid value for --until: expected an ISO 8601 time"),
    Case("train-met-bogus", ["train", "--met", "bogus"], r"Invalid value for --met"),
    Case("daily-issue-garbage", ["run", "daily", "--issue-time", "garbage"],
         r"Invalid value for --issue-time: issue time 'garbage'"),
    Case("daily-met-bogus", ["run", "daily", "--issue-time", "2026-01-20T15:00", "--met",
                             "bogus"], r"Invalid value for --met: expected one of auto, cycles"),
    Case("backfill-end-before-start", ["run", "backfill", "--start", "2026-01-10", "--end",
                                       "2026-01-05"],
         r"Invalid value for --end: the end 2026-01-05 is before the start 2026-01-10"),
    Case("backfill-start-garbage", ["run", "backfill", "--start", "yesterday-ish", "--end",
                                    "2026-01-05"], r"Invalid value for --start"),
    Case("backfill-products-unknown", ["run", "backfill", "--start", "2026-01-01", "--end",
                                       "2026-01-02", "--products", "maps,pdf"],
         r"--products: expected a comma list of maps, report, bulletins; got pdf"),
    Case("retrain-until-garbage", ["run", "retrain", "--until", "soon"],
         r"Invalid value for --until"),
    Case("monthly-month-13", ["run", "monthly", "--month", "2026-13"],
         r"Invalid value for --month: expected YYYY-MM"),
    Case("warn-issue-garbage", ["warn", "--issue-time", "garbage"],
         r"Invalid value for --issue-time: expected an ISO time"),
    Case("warn-no-forecast", ["warn", "--issue-time", "2026-01-21T15:00"],
         r"forecast file not found: .*forecasts/20260121T1500.nc"),
    Case("warn-forecast-not-netcdf", ["warn", "--issue-time", "2026-01-20T15:00", "--forecast",
                                      "{tmp}/fake.nc"],
         r"fake.nc: not a readable NetCDF forecast file", files={"fake.nc": "not netcdf\n"}),
    Case("ladder-path-escape", ["ladder", "--ladder", "../../x", "--daily-aqi", "210,220"],
         r"ladder id '\.\./\.\./x': expected a name like national-2024"),
    Case("ladder-unknown", ["ladder", "--ladder", "national-2099", "--daily-aqi", "210"],
         r"unknown warning ladder 'national-2099'"),
    Case("ladder-aqi-not-numbers", ["ladder", "--daily-aqi", "210,2x0"],
         r"--daily-aqi: expected comma-separated numbers, got '210,2x0'"),
    Case("products-issue-garbage", ["products", "--issue-time", "garbage"], r"garbage"),
    Case("aqi-missing-file", ["aqi", "{tmp}/nothere.csv"], r"nothere.csv"),
    # ----------------------------------------------------------------- overrides
    Case("override-missing-reason", ["override", "--unit", "chengdu", "--level", "red", "--who",
                                     "duty", "--until", "2026-01-22T00:00"],
         r"missing --reason", area="overrides"),
    Case("override-unknown-unit", ["override", "--unit", "atlantis", "--level", "red",
                                   "--reason", "x", "--who", "y", "--until", "2026-01-22T00:00"],
         r"--unit: unknown unit 'atlantis'", area="overrides"),
    Case("override-unknown-level", ["override", "--unit", "chengdu", "--level", "purple",
                                    "--reason", "x", "--who", "y", "--until", "2026-01-22T00:00"],
         r"unknown level 'purple'", area="overrides"),
    Case("override-until-before-from", ["override", "--unit", "chengdu", "--level", "red",
                                        "--reason", "x", "--who", "y", "--from",
                                        "2026-01-22T00:00", "--until", "2026-01-21T00:00"],
         r"is not after", area="overrides"),
    Case("override-until-garbage", ["override", "--unit", "chengdu", "--level", "red",
                                    "--reason", "x", "--who", "y", "--until", "never"],
         r"expected an ISO time .* got 'never'", area="overrides"),
    Case("override-blank-reason", ["override", "--unit", "chengdu", "--level", "red",
                                   "--reason", "   ", "--who", "y", "--until", "2026-01-22T00:00"],
         r"a reason and the forecaster's name are required", area="overrides"),
    # -------------------------------------------------------------- station ingest
    Case("ingest-truncated", ["ingest", "{ingest}/china_sites_truncated.csv", "--data-dir",
                              "{data}"], r"china_sites_truncated.csv, line 46: truncated file",
         area="ingest"),
    Case("ingest-unknown-column", ["ingest", "{ingest}/china_sites_unknown_column.csv",
                                   "--data-dir", "{data}"],
         r"line 1, column 4: unknown column '备注'", area="ingest"),
    Case("ingest-bad-hour", ["ingest", "{ingest}/china_sites_bad_hour.csv", "--data-dir",
                             "{data}"], r"line 35, column 'hour': '24'; expected an integer hour",
         area="ingest"),
    Case("ingest-bad-value", ["ingest", "{ingest}/china_sites_bad_value.csv", "--data-dir",
                              "{data}"], r"line 24, column '1431A': cannot parse '4x2'",
         area="ingest"),
    Case("ingest-empty", ["ingest", "{ingest}/empty.csv", "--data-dir", "{data}"],
         r"empty.csv: empty file", area="ingest"),
    Case("ingest-good-then-bad", ["ingest", "{ingest}/long_table_gbk.csv",
                                  "{ingest}/china_sites_truncated.csv", "--data-dir", "{data}"],
         r"truncated file.*store is unchanged", area="ingest"),
    Case("ingest-missing-file", ["ingest", "{tmp}/nothere.csv", "--data-dir", "{data}"],
         r"nothere.csv", area="ingest"),
    Case("ingest-long-unknown-unit", ["ingest", "{tmp}/u.csv", "--format", "long",
                                      "--data-dir", "{data}"],
         r"u.csv, line 2, column 'unit': unknown unit 'furlongs'.*store is unchanged",
         files={"u.csv": LONG_HEAD + "2026-01-15 08:00,1431A,NO2,3,furlongs\n"},
         area="ingest"),
    Case("ingest-long-not-on-hour", ["ingest", "{tmp}/h.csv", "--format", "long", "--data-dir",
                                     "{data}"], r"h.csv, line 2, column 'time'.*not on the hour",
         files={"h.csv": LONG_HEAD + "2026-01-15 08:30,1431A,NO2,3,ug/m3\n"},
         area="ingest"),
    Case("ingest-format-unknown", ["ingest", "{ingest}/china_sites_20260115.csv", "--format",
                                   "bogus", "--data-dir", "{data}"], r"bogus", area="ingest"),
    Case("ingest-mixed-met-and-stations", ["ingest", "{ingest}/china_sites_20260115.csv",
                                           "{tmp}/noera5.nc", "--data-dir", "{data}"],
         r"give station observations \(obs\), station meteorology \(met_obs\) and "
         r"gridded meteorology \(met_grid\) in separate ingests",
         files={"noera5": _nc_no_era5}, area="ingest"),
    Case("ingest-domain-missing", ["ingest", "--domain", "{tmp}/nothere.yaml", "--data-dir",
                                   "{data}"], r"nothere.yaml", area="ingest"),
    Case("ingest-no-source", ["ingest", "--data-dir", "{data}"],
         r"no SOURCE given", area="ingest"),
    # ------------------------------------------------------------- met ingest
    Case("met-garbage-bytes", ["ingest", "{tmp}/z.nc", "--data-dir", "{data}"],
         r"z.nc.*not a readable NetCDF", files={"z.nc": b"garbage"}, area="ingest"),
    Case("met-no-era5-variables", ["ingest", "{tmp}/noera5.nc", "--data-dir", "{data}"],
         r"noera5.nc: no meteorology variable recognised .*; variables are \['foo'\]", files={"noera5": _nc_no_era5},
         area="ingest"),
    Case("met-unit-furlong", ["ingest", "{tmp}/furlong.nc", "--data-dir", "{data}"],
         r"furlong.nc: variable for 'sp' has units 'furlong'", files={"furlong": _nc_furlong},
         area="ingest"),
]

_BOX = re.compile(r"[│╭╮╰╯─]+")


def _flat(text: str) -> str:
    """The output as one line: rich's box characters and line wrapping removed."""
    return re.sub(r"\s+", " ", _BOX.sub(" ", text)).strip()


@pytest.fixture(scope="module")
def runner_app():
    from airwarn.flows.cli import app

    return app


RESULTS: list[dict] = []


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, corpus_store: Path, tmp_path: Path, runner_app) -> None:
    cfg_dir = None
    if case.configs is not None:
        cfg_dir = tmp_path / "configs"
        shutil.copytree(configs.CONFIG_DIR, cfg_dir,
                        ignore=shutil.ignore_patterns("*.py", "__pycache__"))
        case.configs(cfg_dir)
    for name, content in case.files.items():
        if callable(content):
            content(tmp_path)
        elif isinstance(content, bytes):
            (tmp_path / name).write_bytes(content)
        else:
            (tmp_path / name).write_text(content, encoding="utf-8")
    args = [a.format(data=corpus_store, tmp=tmp_path, ingest=INGEST) for a in case.args]
    env = {"AIRWARN_DATA_DIR": str(corpus_store), "COLUMNS": "200", "AIRWARN_DEBUG": "",
           **case.env}
    if cfg_dir is not None:
        env["AIRWARN_CONFIG_DIR"] = str(cfg_dir)
    before = store_digest(corpus_store)
    result = CliRunner(env=env).invoke(runner_app, args)
    out = _flat(result.output)
    after = store_digest(corpus_store)
    RESULTS.append({"id": case.id, "area": case.area, "code": result.exit_code,
                    "unchanged": before == after})
    assert "Traceback" not in result.output, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception,
                                                                      SystemExit), \
        repr(result.exception)
    assert re.search(case.message, out), f"{case.id}: {out!r}"
    assert result.exit_code == case.code, f"{case.id}: exit {result.exit_code}: {out!r}"
    assert before == after, f"{case.id}: store changed: " + ", ".join(
        sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k)))


def test_corpus_is_large_and_covers_every_area() -> None:
    areas = pd.Series([c.area for c in CASES]).value_counts().to_dict()
    assert len(CASES) >= 60, len(CASES)
    assert len({c.id for c in CASES}) == len(CASES)
    assert set(areas) == {"configs", "overrides", "delivery", "options", "ingest"}, areas
