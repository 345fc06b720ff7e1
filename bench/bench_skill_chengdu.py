"""Skill check on the real 成渝 data that exist publicly: Chengdu PM2.5 of the UCI "PM2.5 Data of
Five Chinese Cities" set (US consulate, 草堂寺 Caotangsi, 沙河铺 Shahepu; 2013–2014; CC BY 4.0;
Liang et al. 2016, J. Geophys. Res. Atmos. 121).

Protocol as ``bench_skill_beijing.py`` (issue 12:00 local, observations up to 11:00, daily mean
PM2.5 valid with ≥ 20 h, RMSE pooled over stations and issues), with the years this set has:
train 2013, test 2014. The set has PM2.5 only, so O3 is not scored. Rows: airwarn with
``--met perfect`` (observed station meteorology at the valid time stands in for a forecast),
``--met none`` with and without the climatology blend (``climatology_blend: no_met`` /
``never``), persistence and climatology. One training year and three stations: a check that the
Beijing choices do not hurt in the target region, not a tuning set.

Usage::

    .venv/bin/python bench/bench_skill_chengdu.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from airwarn.configs import load_settings  # noqa: E402
from airwarn.configs.model_schema import load_domain, load_model_settings  # noqa: E402
from airwarn.models.backtest import load_domain_data, run_backtest  # noqa: E402

TRAIN_END = "2013-12-31"
TEST_START = "2014-01-01"
TEST_END = "2014-12-31"


def main() -> None:
    """Run the three airwarn variants and print the table."""
    dom = load_domain(ROOT / "configs" / "domains" / "chengdu_five_cities.yaml")
    data = load_domain_data(dom)
    quantiles = list(load_settings().quantiles)
    rows: list[tuple[str, dict]] = []
    for label, met, blend in [("airwarn --met perfect", "perfect", "no_met"),
                              ("airwarn --met none", "none", "no_met"),
                              ("airwarn --met none, no climatology blend", "none", "never")]:
        settings = load_model_settings()
        settings.climatology_blend = blend
        _, sc = run_backtest(data, train_end=TRAIN_END, test_start=TEST_START, test_end=TEST_END,
                             issue_hour=12, met=met, settings=settings, quantiles=quantiles,
                             pollutants=["pm25"], warmup_days=3)
        rows.append((label, sc["daily"]["pm25_daily"]))
    print(f"Daily mean PM2.5 RMSE (µg/m³), Chengdu 3 stations, issue 12:00, train 2013, test "
          f"{TEST_START}…{TEST_END}; 80 % interval coverage in brackets")
    print("| forecaster | D+1 | D+2 | D+3 |")
    print("|---|---|---|---|")
    for label, d in rows:
        print(f"| {label} | " + " | ".join(
            f"{d[f'D+{k}']['rmse']:.1f} ({d[f'D+{k}']['coverage_80']:.2f})" for k in (1, 2, 3))
            + " |")
    d = rows[0][1]
    for name, key in [("persistence", "persistence_rmse"),
                      ("climatology (unit × month)", "climatology_rmse")]:
        print(f"| {name} | " + " | ".join(f"{d[f'D+{k}'][key]:.1f}" for k in (1, 2, 3)) + " |")


if __name__ == "__main__":
    main()
