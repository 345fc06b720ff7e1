"""``airwarn aqi`` on the real Chengdu sample, and its bad-input messages."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import typer
from airwarn.flows.commands.aqi import register
from typer.testing import CliRunner

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "chengdu_pm25_2014-01_sample.csv"


@pytest.fixture()
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _main() -> None:  # a group, so the command is invoked by name as in `airwarn aqi`
        """test app"""

    register(app)
    return app


@pytest.fixture()
def sample(tmp_path: Path) -> Path:
    return Path(shutil.copy(SAMPLE, tmp_path / "obs.csv"))


def _run(app: typer.Typer, *args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, ["aqi", *args])
    return res.exit_code, res.output


def test_daily_on_real_sample(app: typer.Typer, sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "daily.csv"
    code, text = _run(app, str(sample), "--out", str(out), "--product", "daily")
    assert code == 0, text
    assert "wrote 42 rows" in text and "HJ633_2012" in text
    d = pd.read_csv(out).set_index(["station_id", "date"])
    # Caotangsi 2014-01-05 (local): 24 h summing to 4856 µg/m³ → mean 202.333 →
    # IAQI = 200 + (300−200)/(250−150)·(202.333−150) = 252.33 → ceil 253 (2012, 重度污染).
    r = d.loc[("Caotangsi", "2014-01-05")]
    assert r.pm25 == pytest.approx(202.3333333, abs=1e-6)
    assert (r.aqi, r.level, r.category, r.primary) == (253, 5, "重度污染", "PM2.5")
    # US_Post 2014-01-08: 1058/24 = 44.083 → 50 + 50/40·9.083 = 61.35 → 62, 良.
    r = d.loc[("US_Post", "2014-01-08")]
    assert (r.aqi, r.level, r.category) == (62, 2, "良")
    assert pd.isna(d.loc[("Shahepu", "2014-01-01"), "aqi"])  # only 18 valid hours
    assert sorted(p.name for p in tmp_path.iterdir()) == ["daily.csv", "obs.csv"]  # no temp left


def test_hourly_auto_and_forced_2026(app: typer.Typer, sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "h.csv"
    assert _run(app, str(sample), "--out", str(out))[0] == 0
    h = pd.read_csv(out).set_index(["station_id", "time"])
    # Caotangsi 2014-01-05 07:00 local = 2014-01-04T23:00Z, PM2.5 235 → 200 + 85 = 285.
    r = h.loc[("Caotangsi", "2014-01-04T23:00:00+00:00")]
    assert (r.iaqi_pm25, r.aqi, r.level, r.ruleset) == (285, 285, 5, "HJ633_2012")
    # US_Post 2014-01-08T02:00Z, PM2.5 20 → 50/35·20 = 28.6 → 29, no primary (AQI ≤ 50).
    r = h.loc[("US_Post", "2014-01-08T02:00:00+00:00")]
    assert (r.aqi, r.level) == (29, 1) and pd.isna(r.primary)

    code, _ = _run(app, str(sample), "--out", str(out), "--ruleset", "HJ633_2026")
    assert code == 0
    h = pd.read_csv(out).set_index(["station_id", "time"])
    r = h.loc[("US_Post", "2014-01-08T02:00:00+00:00")]
    # 2026 §5.3: five pollutants missing and AQI 29 ≤ 100 → AQI not published, IAQI kept.
    assert r.iaqi_pm25 == 29 and pd.isna(r.aqi) and not r.published
    assert h.loc[("Caotangsi", "2014-01-04T23:00:00+00:00"), "aqi"] == 285


def test_default_output_name(app: typer.Typer, sample: Path) -> None:
    assert _run(app, str(sample))[0] == 0
    assert (sample.parent / "obs_aqi_hourly.csv").exists()


def test_missing_column(app: typer.Typer, sample: Path) -> None:
    df = pd.read_csv(sample).drop(columns=["no2"])
    df.to_csv(sample, index=False)
    code, text = _run(app, str(sample))
    assert code == 2
    assert str(sample) in text and "missing column(s) no2" in text


def test_non_numeric_value(app: typer.Typer, sample: Path) -> None:
    lines = sample.read_text().splitlines()
    fields = lines[4].split(",")  # line 5 of the file (header = line 1)
    fields[2] = "abc"
    lines[4] = ",".join(fields)
    sample.write_text("\n".join(lines) + "\n")
    code, text = _run(app, str(sample))
    assert code == 2
    assert str(sample) in text and "line 5" in text and "'pm25'" in text and "'abc'" in text
    assert text.count("error:") == 1


def test_a_station_hour_given_twice(app: typer.Typer, sample: Path, tmp_path: Path) -> None:
    """A repeated station-hour (other values) is refused for both products, naming both lines,
    and nothing is written — the hourly product would otherwise carry two AQIs for one hour."""
    lines = sample.read_text().splitlines()
    fields = lines[3].split(",")   # line 4 of the file
    fields[2] = "999"
    lines.insert(7, ",".join(fields))   # becomes line 8
    sample.write_text("\n".join(lines) + "\n")
    station = fields[1]
    for product in ("hourly", "daily"):
        out = tmp_path / f"{product}.csv"
        code, text = _run(app, str(sample), "--product", product, "--out", str(out))
        text = " ".join(text.split())
        assert code == 2 and f"{sample}: lines 4 and 8: station '{station}'" in text, text
        assert "expected one row per station and hour" in text and not out.exists()


def test_bad_time(app: typer.Typer, sample: Path) -> None:
    lines = sample.read_text().splitlines()
    lines[2] = "yesterday" + lines[2][lines[2].index(","):]
    sample.write_text("\n".join(lines) + "\n")
    code, text = _run(app, str(sample))
    assert code == 2 and "line 3" in text and "'time'" in text


def test_bad_choice_exits_2(app: typer.Typer, sample: Path) -> None:
    assert _run(app, str(sample), "--ruleset", "HJ633_2099")[0] == 2


def test_out_naming_a_folder_is_one_clear_error(sample: Path, tmp_path: Path) -> None:
    from airwarn.flows.cli import app as cli

    folder = tmp_path / "reports"
    folder.mkdir()
    res = CliRunner(env={"COLUMNS": "200", "AIRWARN_DEBUG": ""}).invoke(
        cli, ["aqi", str(sample), "--out", str(folder)])
    assert res.exit_code == 2, res.output
    assert f"error: {folder}: is a directory; expected the path of a file to write" in res.output
    assert list(folder.iterdir()) == []
