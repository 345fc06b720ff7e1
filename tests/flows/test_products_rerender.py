"""One product sequence: ``airwarn products`` re-renders a daily run's products identically.

A real daily run on the demo world (trained session copy) writes its review report and bulletins;
the files are then removed and ``airwarn products --issue-time T`` (the CLI, the stored files
only) renders them again. The re-render reads the same observations (QC'd, the run's stations),
the same meteorology source and the same degraded inputs as the run, so the bulletin text and the
report — its tables and its observed series — come out byte for byte the same.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.flows.conftest import ISSUE, STAMP

#: Bulletin files compared (the PDFs are skipped by ``--no-pdf``; their HTML is compared).
BULLETIN_KEYS = ("zh.md", "en.md", "zh.html", "en.html", "json", "cap.xml")


def _tables(html: str) -> list[str]:
    return re.findall(r"<table.*?</table>", html, flags=re.S)


def test_airwarn_products_rerender_equals_the_daily_run(data_dir: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from airwarn.alerts.register import Register, register_path
    from airwarn.flows.cli import app
    from airwarn.flows.daily import DailyRun, config_for, run_daily
    from typer.testing import CliRunner

    # an earlier run (two days before) gives the report a verified day to score
    early = DailyRun(config_for(data_dir), (ISSUE - pd.Timedelta(days=2)).to_pydatetime(),
                     met="demo", products=(), observed_aqi=False)
    run_daily(early, use_tasks=False)
    # a forecaster's override makes sure the run has a warning to bulletin
    Register(register_path(data_dir)).record_override(
        "chengdu", "yellow", "会商决定 test", "duty", ISSUE.isoformat(),
        (ISSUE + pd.Timedelta(days=3)).isoformat())
    run = DailyRun(config_for(data_dir), ISSUE.to_pydatetime(), met="demo",
                   products=("report", "bulletins"))
    manifest = run_daily(run, use_tasks=False)
    assert manifest["status"] == "complete", manifest
    stages = {s["name"]: s for s in manifest["stages"]}
    assert stages["verify_recent"]["status"] == "ok", stages["verify_recent"]
    assert run.scores is not None and len(run.scores) > 0
    assert manifest["decisions"], "the override should have made a decision"

    out = data_dir / "products" / STAMP
    report = (out / "report.html").read_text(encoding="utf-8")
    bulletins = {did: {k: Path(files[k]).read_bytes() for k in BULLETIN_KEYS}
                 for did, files in manifest["bulletins"].items()}
    scores = (out / "verification_30d.csv").read_text(encoding="utf-8")
    # remove what the run wrote: the re-render must write it again from the stored run alone
    (out / "report.html").unlink()
    (out / "verification_30d.csv").unlink()
    shutil.rmtree(out / "bulletins")

    monkeypatch.setenv("AIRWARN_DATA_DIR", str(data_dir))
    res = CliRunner().invoke(app, ["products", "--issue-time", ISSUE.strftime("%Y-%m-%dT%H:%M"),
                                   "--only", "report,bulletins", "--no-pdf"])
    assert res.exit_code == 0, res.output

    again = (out / "report.html").read_text(encoding="utf-8")
    assert len(_tables(report)) >= 3
    assert _tables(again) == _tables(report)
    assert "RMSE" in again or "rmse" in again  # the verification table is in it
    assert again == report  # the observed series too (same QC'd observations, same stations)
    assert (out / "verification_30d.csv").read_text(encoding="utf-8") == scores
    for did, files in bulletins.items():
        for key, want in files.items():
            got = (out / "bulletins" / Path(manifest["bulletins"][did][key]).name).read_bytes()
            assert got == want, f"{did}.{key} differs between the daily run and the re-render"
    md = bulletins[next(iter(bulletins))]["zh.md"].decode("utf-8")
    line = next(x for x in md.splitlines() if "气象条件" in x)
    assert "平均风速" in line, line  # the run's own meteorology, in both
