"""Fault suite: what a duty officer needs after a crash, a lock, a full disk or a missing input.

Every test ends with the same checks: the run completed or failed loudly, the register passes
``PRAGMA integrity_check``, no product is half written (every file of the run's products is one
the manifest lists with its SHA-256, and no temporary file is left), and nothing was recorded
twice. Kills are real ``kill -9`` of subprocesses; the register lock is held by another process;
the full disk is a small tmpfs (skipped where mounting is not permitted).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.flows.conftest import ISSUE, STAMP

ROOT = Path(__file__).resolve().parents[2]


def _run(data_dir: Path, **kw):
    from airwarn.flows.daily import DailyRun, config_for, run_daily

    run = DailyRun(config_for(data_dir), ISSUE.to_pydatetime(), met=kw.pop("met", "demo"),
                   products=tuple(kw.pop("products", ())), warnings=kw.pop("warnings", True))
    return run, run_daily(run, use_tasks=False, **kw)


def _integrity(data_dir: Path) -> None:
    with sqlite3.connect(data_dir / "register.sqlite") as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _no_half_written(data_dir: Path) -> dict:
    """Every product file is listed in the manifest with its SHA-256; no temporary left."""
    pdir = data_dir / "products" / STAMP
    manifest = json.loads((pdir / "manifest.json").read_text(encoding="utf-8"))
    listed = {p["path"]: p["sha256"] for p in manifest["products"]}
    for p in pdir.rglob("*"):
        if not p.is_file() or p.name == "manifest.json" or p.parent.name == "logs":
            continue
        rel = str(p.relative_to(data_dir))
        assert not p.name.startswith("."), f"temporary file left: {rel}"
        assert rel in listed, f"{rel} is not in the manifest"
        assert hashlib.sha256(p.read_bytes()).hexdigest() == listed[rel], f"{rel} differs"
    leftovers = [p for p in (data_dir / "forecasts").glob(".*")]
    assert not leftovers, leftovers
    return manifest


_SLOW_STAGE = r"""
import os, sys, time, types
from pathlib import Path
data_dir, stage, marker = sys.argv[1], sys.argv[2], sys.argv[3]
import pandas as pd
import airwarn.flows.daily as daily
orig = daily._STAGE_TASKS[stage].fn
def slow(run, *a):
    Path(marker).write_text(str(os.getpid()))
    time.sleep(300)
    return orig(run, *a)
daily._STAGE_TASKS[stage] = types.SimpleNamespace(fn=slow)
run = daily.DailyRun(daily.config_for(data_dir), pd.Timestamp("2026-01-20T15:00",
                     tz="Asia/Shanghai").to_pydatetime(), met="demo", products=(stage,))
daily.run_daily(run, use_tasks=False)
"""

_SLOW_TRAIN = r"""
import sys
from pathlib import Path
data_dir, marker = sys.argv[1], sys.argv[2]
import pandas as pd
from airwarn.flows.daily import config_for, load_unit_obs, make_met_source
from airwarn.models.train import train_models
from airwarn.configs.model_schema import LgbmParams, load_model_settings
small = LgbmParams(num_boost_round=30, learning_rate=0.15, num_leaves=15, min_data_in_leaf=20,
                   num_threads=1)
settings = load_model_settings().model_copy(update={"daily": small, "hourly": small,
                                                    "hourly_lead_stride": 12, "issue_hours": [15]})
issue = pd.Timestamp("2026-01-20T15:00", tz="Asia/Shanghai")
cfg = config_for(data_dir)
until = issue.tz_convert("UTC")
obs = load_unit_obs(cfg, start=until - pd.Timedelta(days=75), end=until)
met, _ = make_met_source(cfg, "perfect")
def progress(line):
    Path(marker).write_text(line)
train_models(cfg, obs, met, issue + pd.Timedelta(days=1), settings=settings,
             progress=progress)
"""


def _spawn(script: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", script, *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for(marker: Path, proc: subprocess.Popen, timeout: float = 150) -> None:
    t0 = time.monotonic()
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"subprocess ended early: {proc.stderr.read().decode()[-2000:]}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            raise AssertionError("subprocess never reached the stage")
        time.sleep(0.2)


def test_kill9_during_products_then_rerun_completes_and_marks_the_crash(data_dir, tmp_path):
    from airwarn.alerts.register import Register

    marker = tmp_path / "in-maps"
    proc = _spawn(_SLOW_STAGE, str(data_dir), "maps", str(marker))
    _wait_for(marker, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    _integrity(data_dir)
    reg = Register(data_dir / "register.sqlite")
    assert reg.runs()["status"].tolist() == ["warned"]  # never "ok"/complete before the end
    assert reg.attempts()["status"].tolist() == ["running"]
    assert not (data_dir / "products" / STAMP / "manifest.json").exists()

    run, manifest = _run(data_dir, products=("maps",))
    assert manifest["status"] == "complete"
    att = reg.attempts()
    assert att["status"].tolist() == ["crashed", "complete"], att
    assert reg.runs()["status"].tolist() == ["complete"]
    assert reg.count("runs") == 1
    _integrity(data_dir)
    _no_half_written(data_dir)


def test_kill9_during_training_leaves_the_models_usable(data_dir, tmp_path):
    from airwarn.models.registry import CARD_NAME

    before = sorted(p.relative_to(data_dir) for p in (data_dir / "models").rglob(CARD_NAME))
    marker = tmp_path / "training"
    proc = _spawn(_SLOW_TRAIN, str(data_dir), str(marker))
    _wait_for(marker, proc)
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert not [p for p in (data_dir / "models").rglob(".*") if p.is_file()], \
        "temporary model file left"
    after = sorted(p.relative_to(data_dir) for p in (data_dir / "models").rglob(CARD_NAME))
    assert set(before) <= set(after)
    # the run after the crash uses complete models: LightGBM for every unit, no fallback
    _, manifest = _run(data_dir, products=())
    assert manifest["status"] == "complete"
    assert not [d for d in manifest["degraded_inputs"] if d.startswith("forecast fallback")]
    _integrity(data_dir)


def test_failed_rerun_keeps_the_completed_record(data_dir):
    from airwarn.alerts.register import Register
    from airwarn.flows.daily import DailyRun, config_for, run_daily

    _, first = _run(data_dir, products=("maps",))
    assert first["status"] == "complete"
    products = {p["path"]: p["sha256"] for p in first["products"]}
    # a partial rerun (no products) keeps the maps' records
    _, second = _run(data_dir, products=())
    kept = {p["path"]: p["sha256"] for p in second["products"]}
    assert {k: v for k, v in products.items() if "maps/" in k} == \
        {k: v for k, v in kept.items() if "maps/" in k} != {}
    # a rerun that fails (bad meteorology option reaching the flow) adds itself, changes nothing
    run = DailyRun(config_for(data_dir), ISSUE.to_pydatetime(), met="bogus", products=())
    with pytest.raises(ValueError, match="met source 'bogus'"):
        run_daily(run, use_tasks=False)
    manifest = json.loads((data_dir / "products" / STAMP / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert [h["status"] for h in manifest["history"]] == ["complete", "complete", "failed"]
    # every attempt wrote its log beside the products, and the record names it
    logs = [data_dir / h["log"] for h in manifest["history"]]
    assert all(p.exists() for p in logs) and len(set(logs)) == 3
    assert "met source 'bogus'" in logs[-1].read_text(encoding="utf-8")
    assert {p["path"]: p["sha256"] for p in manifest["products"]} == kept
    reg = Register(data_dir / "register.sqlite")
    assert reg.runs()["status"].tolist() == ["complete"]
    assert reg.attempts()["status"].tolist() == ["complete", "complete", "failed"]
    # `airwarn warn` on the completed issue time does not downgrade its row either
    from airwarn.alerts.warning import warn_run
    from airwarn.models.forecast import read_forecast

    warn_run(read_forecast(data_dir / "forecasts" / f"{STAMP}.nc"), config_for(data_dir), reg,
             ISSUE)
    assert reg.runs()["status"].tolist() == ["complete"]
    _integrity(data_dir)


def test_register_locked_by_another_writer_does_not_stop_the_forecast(data_dir, tmp_path,
                                                                       monkeypatch):
    from airwarn.alerts.register import Register
    from airwarn.flows.daily import RunFailed

    Register(data_dir / "register.sqlite")  # exists, WAL
    marker = tmp_path / "locked"
    holder = _spawn("import sqlite3, sys, time\n"
                    "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
                    "c.execute('BEGIN EXCLUSIVE')\n"
                    "open(sys.argv[2], 'w').close()\n"
                    "time.sleep(300)\n", str(data_dir / "register.sqlite"), str(marker))
    try:
        _wait_for(marker, holder, timeout=30)
        monkeypatch.setenv("AIRWARN_REGISTER_TIMEOUT_S", "0.3")
        with pytest.raises(RunFailed, match="stages failed: warnings"):
            _run(data_dir, products=())
        assert (data_dir / "forecasts" / f"{STAMP}.nc").exists()  # the forecast was made
        manifest = json.loads((data_dir / "products" / STAMP / "manifest.json").read_text())
        assert manifest["status"] == "failed"
        assert any("database is locked" in p for p in manifest["register_problems"])
        stages = {s["name"]: s for s in manifest["stages"]}
        assert stages["forecast"]["status"] in ("ok", "degraded")
        assert "locked" in stages["warnings"]["detail"]
    finally:
        holder.kill()
        holder.wait(timeout=30)
    monkeypatch.delenv("AIRWARN_REGISTER_TIMEOUT_S")
    _, manifest = _run(data_dir, products=())  # the lock gone, the rerun completes
    assert manifest["status"] == "complete"
    reg = Register(data_dir / "register.sqlite")
    assert reg.runs()["status"].tolist() == ["complete"]
    _integrity(data_dir)


def test_disk_full_while_writing_products(data_dir):
    from airwarn.flows.daily import RunFailed

    pdir = data_dir / "products" / STAMP
    pdir.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(pdir)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        with pytest.raises(RunFailed, match="stages failed: daily_aqi, maps"):
            _run(data_dir, products=("maps",))
        manifest = _no_half_written(data_dir)
        stages = {s["name"]: s for s in manifest["stages"]}
        for name in ("daily_aqi", "maps"):  # both write into the full products directory
            assert stages[name]["status"] == "failed"
            assert "No space left on device" in stages[name]["detail"]
        assert stages["forecast"]["status"] in ("ok", "degraded")
        _integrity(data_dir)
    finally:
        subprocess.run(["umount", str(pdir)], check=False)
    _, manifest = _run(data_dir, products=("maps",))  # space again: the rerun completes
    assert manifest["status"] == "complete"
    _no_half_written(data_dir)


def test_every_station_of_a_unit_missing_and_no_met_cycle(data_dir):
    import pandas as pd
    from airwarn.features.store import obs_files

    # chengdu's stations send nothing for the last three days; there is no forecast cycle at all
    stations = pd.read_csv(ROOT / "configs" / "stations.csv", dtype=str)
    gone = set(stations.loc[stations["sub_region"] == "chengdu", "station_id"])
    cut = pd.Timestamp("2026-01-17T00:00Z")
    for f in obs_files(data_dir):
        df = pd.read_parquet(f)
        keep = ~(df["station_id"].isin(gone) & (df["time"] >= cut))
        df[keep].to_parquet(f)
    shutil.rmtree(data_dir / "met" / "cycles")
    _, manifest = _run(data_dir, met="cycles", products=())
    assert manifest["status"] == "complete"
    deg = " | ".join(manifest["degraded_inputs"])
    assert "unit chengdu: no observations in the last 24 h" in deg
    assert "no meteorology forecast cycle available" in deg
    _integrity(data_dir)


_SEND_THEN_HANG = r"""
import sys, time
from pathlib import Path
reg_path, port, marker = sys.argv[1], int(sys.argv[2]), sys.argv[3]
import airwarn.products.delivery as delivery
from airwarn.alerts.register import Register
from airwarn.configs.schema import DeliverySettings
sys.path.insert(0, str(Path.cwd() / "tests" / "products"))
from products_fixtures import make_decision
orig = delivery._send_email
def send_then_hang(*a, **kw):
    out = orig(*a, **kw)
    Path(marker).write_text("sent")
    time.sleep(300)  # killed here: sent, not yet recorded
    return out
delivery._send_email = send_then_hang
s = DeliverySettings(dry_run=False, smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False,
                     allow_plaintext_credentials=True, mail_from="airwarn@example.test",
                     mail_to=["duty@example.test"], retries=0)
delivery.deliver(make_decision(), {}, s, Register(reg_path),
                 env={"AIRWARN_SMTP_USER": "duty", "AIRWARN_SMTP_PASSWORD": "pw"})
"""


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_kill9_during_delivery_never_sends_twice(tmp_path):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult
    from airwarn.alerts.register import Register
    from airwarn.configs.schema import DeliverySettings
    from airwarn.products.delivery import deliver

    from tests.products.products_fixtures import make_decision

    class Inbox:
        messages: list = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
            self.messages.append(envelope.content)
            return "250 OK"

    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    inbox = Inbox()
    ctl = Controller(inbox, hostname="127.0.0.1", port=port,
                     authenticator=lambda *a: AuthResult(success=True), auth_required=True,
                     auth_require_tls=False)
    ctl.start()
    try:
        reg_path = tmp_path / "register.sqlite"
        marker = tmp_path / "sent"
        proc = _spawn(_SEND_THEN_HANG, str(reg_path), str(port), str(marker))
        _wait_for(marker, proc, timeout=60)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert len(inbox.messages) == 1
        reg = Register(reg_path)
        did = make_decision()["decision_id"]
        assert reg.last_delivery(did, "email") == "sending"
        s = DeliverySettings(dry_run=False, smtp_host="127.0.0.1", smtp_port=port,
                             smtp_starttls=False, allow_plaintext_credentials=True,
                             mail_from="airwarn@example.test", mail_to=["duty@example.test"],
                             retries=0)
        env = {"AIRWARN_SMTP_USER": "duty", "AIRWARN_SMTP_PASSWORD": "pw"}
        res = deliver(make_decision(), {}, s, reg, env=env)  # the rerun
        assert [(r.channel, r.status) for r in res] == [("email", "unconfirmed")]
        assert "interrupted while sending" in res[0].detail
        assert len(inbox.messages) == 1  # not sent twice
        # a decision never attempted before is sent normally
        res = deliver(make_decision(decision_id="cy-other"), {}, s, reg, env=env)
        assert [r.status for r in res] == ["sent"] and len(inbox.messages) == 2
        with sqlite3.connect(reg_path) as c:
            assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        ctl.stop()


_RUN_AT = r"""
import sys
import pandas as pd
import airwarn.flows.daily as daily
run = daily.DailyRun(daily.config_for(sys.argv[1]), pd.Timestamp(sys.argv[2]).to_pydatetime(),
                     met="demo", products=())
print(daily.run_daily(run, use_tasks=False)["status"])
"""


def test_two_issue_times_at_once(data_dir):
    from airwarn.alerts.register import Register

    other = "2026-01-20T05:00:00+08:00"
    proc = subprocess.Popen([sys.executable, "-c", _RUN_AT, str(data_dir), other], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, manifest = _run(data_dir, products=())
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert out.decode().strip().splitlines()[-1] == "complete"
    assert manifest["status"] == "complete"
    reg = Register(data_dir / "register.sqlite")
    runs = reg.runs()
    assert runs["status"].tolist() == ["complete", "complete"]
    assert len(reg.attempts()) == 2
    for stamp in ("20260120T0500", STAMP):
        assert (data_dir / "forecasts" / f"{stamp}.nc").exists()
    _integrity(data_dir)
