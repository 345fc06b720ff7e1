"""LightGBM thread policy (models/threads.py): wait policy set before lightgbm loads, thread count
from the CPUs other processes leave free."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from airwarn.configs.model_schema import LgbmParams, load_model_settings
from airwarn.models.threads import busy_cpus, resolve_num_threads, set_wait_policy, threads_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("busy, usable, total, expected", [
    (0.0, 2, 2, 2),    # idle 2-core machine: both cores
    (0.3, 2, 2, 2),    # a little background noise
    (1.0, 2, 2, 1),    # one CPU-bound neighbour: one thread, never two fighting it
    (0.6, 2, 2, 1),
    (9.0, 2, 2, 1),    # overloaded: still 1
    (1.0, 8, 8, 7),
    (4.0, 4, 16, 3),   # 4 of 16 CPUs busy, spread: 1 of our 4
])
def test_threads_for(busy, usable, total, expected):
    assert threads_for(busy, usable, total) == expected


def test_integer_setting_is_used_as_is():
    assert resolve_num_threads(3) == 3 and resolve_num_threads(1) == 1


def test_auto_stays_within_the_usable_cpus():
    n = resolve_num_threads("auto")
    assert 1 <= n <= len(os.sched_getaffinity(0))
    assert 0.0 <= busy_cpus(0.05) <= (os.cpu_count() or 1) + 0.01


def test_models_yaml_uses_the_policy():
    s = load_model_settings(ROOT / "configs" / "models.yaml")
    assert s.omp_wait_policy == "PASSIVE"
    assert s.daily.num_threads == s.hourly.num_threads == "auto"
    assert LgbmParams(num_threads=2).num_threads == 2
    with pytest.raises(ValueError):
        LgbmParams(num_threads=0)


def test_wait_policy_is_set_before_lightgbm_loads():
    """A fresh interpreter: importing the package sets the policy before lightgbm (libgomp) loads."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    code = ("import os, sys, models; assert 'lightgbm' not in sys.modules; import lightgbm; "
            "print(os.environ['OMP_WAIT_POLICY'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "PASSIVE"


def test_the_operators_environment_wins(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert set_wait_policy() == "ACTIVE" and os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
    monkeypatch.delenv("OMP_WAIT_POLICY")
    assert set_wait_policy("passive") == "PASSIVE"
