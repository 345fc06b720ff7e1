"""The run log: INFO goes to the run's log file, the console keeps what it showed before."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

from airwarn.flows.daily_run import run_log


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.INFO)  # a console handler like Prefect's, at INFO
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.levelname} {record.getMessage()}")


def test_info_goes_to_the_file_not_to_the_console(tmp_path: Path) -> None:
    console = _Collect()
    top = logging.getLogger()
    top.addHandler(console)
    airwarn = logging.getLogger("airwarn")
    level, propagate = airwarn.level, airwarn.propagate
    airwarn.setLevel(logging.WARNING)
    run = SimpleNamespace(products_dir=tmp_path / "products" / "20260120T1500",
                          attempt="20260120T1500-a1", stamp="20260120T1500", log_path=None)
    try:
        with run_log(run):  # type: ignore[arg-type]
            logging.getLogger("airwarn.models.forecast").info("pm25 lead 24 predicted")
            logging.getLogger("airwarn.flows.daily").warning("station 2525A down")
        logging.getLogger("airwarn.flows.daily").warning("after the run")
        restored = (airwarn.level, airwarn.propagate)
    finally:
        top.removeHandler(console)
        airwarn.setLevel(level)
        airwarn.propagate = propagate
    text = Path(run.log_path).read_text(encoding="utf-8")
    assert "INFO airwarn.models.forecast: pm25 lead 24 predicted" in text
    assert "started (pid" in text
    assert "WARNING airwarn.flows.daily: station 2525A down" in text
    assert "after the run" not in text  # the file handler is gone after the run
    # the console got the warnings, once each, and none of the run's INFO lines
    assert console.messages == ["WARNING station 2525A down", "WARNING after the run"]
    assert restored == (logging.WARNING, True)
