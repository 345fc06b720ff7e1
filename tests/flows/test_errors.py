"""The CLI's error boundary in a fresh process (flows.errors, flows.cli): a broken configuration
file ends in one message naming it and exit 2 — never a traceback — even when the file is read
while the command modules are imported or while the error itself is being described.

In-process tests (CliRunner) cannot show this: there every module is already imported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"


def _airwarn(cfg_dir: Path, data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "AIRWARN_CONFIG_DIR": str(cfg_dir), "AIRWARN_DATA_DIR": str(data_dir),
           "AIRWARN_DEBUG": "", "OMP_NUM_THREADS": "1", "COLUMNS": "200",
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH"))
                                         if p)}
    return subprocess.run([sys.executable, "-c", "from airwarn.flows.cli import main; main()",
                           *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def cfg_dir(tmp_path: Path) -> Path:
    d = tmp_path / "configs"
    shutil.copytree(CONFIGS, d, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return d


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_broken_default_ladder_is_one_message_not_a_traceback(cfg_dir: Path,
                                                                tmp_path: Path) -> None:
    # describe() used to import flows.daily → models.forecast, which loads the default ladder
    # at import: the ConfigError was raised again inside the error boundary
    _edit(cfg_dir / "warning" / "national-2024.yaml", "  - level: yellow", "  - level: purple")
    r = _airwarn(cfg_dir, tmp_path / "data", "config")
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 2
    assert r.stderr.startswith("error: invalid configuration in ")
    assert "national-2024.yaml" in r.stderr
    assert "levels.0.level: Input should be 'blue', 'yellow', 'orange' or 'red' (got 'purple')" \
        in r.stderr


def test_yaml_syntax_error_names_file_line_and_column(cfg_dir: Path, tmp_path: Path) -> None:
    _edit(cfg_dir / "warning" / "national-2024.yaml", "  - level: yellow", "\t- level: yellow")
    r = _airwarn(cfg_dir, tmp_path / "data", "config")
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].endswith("national-2024.yaml: not valid YAML at line 24, column 1: found "
                             "character '\\t' that cannot start any token (while scanning for "
                             "the next token)"), lines[0]


def test_broken_pollutant_registry_read_at_import_is_one_message(cfg_dir: Path,
                                                                 tmp_path: Path) -> None:
    p = cfg_dir / "pollutants.yaml"
    p.write_text(p.read_text(encoding="utf-8") + "\n- x\n", encoding="utf-8")
    r = _airwarn(cfg_dir, tmp_path / "data", "config")
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 2
    assert r.stderr.startswith(f"error: {p}: cannot read the pollutant registry")


def test_settings_saved_as_gbk_is_named_not_a_traceback(cfg_dir: Path, tmp_path: Path) -> None:
    p = cfg_dir / "settings.yaml"
    p.write_bytes(p.read_text(encoding="utf-8").encode("gbk"))
    r = _airwarn(cfg_dir, tmp_path / "data", "config")
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 2
    assert r.stderr.startswith(f"error: {p}: not UTF-8 text (byte ")
    assert "save it as UTF-8" in r.stderr


def test_debug_still_shows_the_traceback(cfg_dir: Path, tmp_path: Path) -> None:
    _edit(cfg_dir / "warning" / "national-2024.yaml", "  - level: yellow", "  - level: purple")
    r = _airwarn(cfg_dir, tmp_path / "data", "--debug", "config")
    assert r.returncode == 1
    assert "Traceback" in r.stderr
    assert "ConfigError" in r.stderr
