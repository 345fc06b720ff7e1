"""Forecast and warning verification (domain-spec §4 T4.1/T4.2, §2 T2.5).

Modules: :mod:`~models.verify.scores` (score formulas on arrays), :mod:`~models.verify.stats`
(block bootstrap, Diebold–Mariano), :mod:`~models.verify.match` (reading forecast archives and
backtests, matching them to observations), :mod:`~models.verify.warning_verify` (issued warnings),
:mod:`~models.verify.archive` (:func:`verify_archive`, :func:`compare_systems`, the tables).
Conventions and thresholds: ``configs/verification.yaml``.
"""

from airwarn.models.verify.archive import (
    ALL,
    TABLES,
    VerificationResult,
    compare_systems,
    unit_groups,
    verify_archive,
    verify_matched,
)
from airwarn.models.verify.match import (
    ForecastArchiveError,
    Matched,
    match_forecasts,
    observed_daily,
    read_forecast_archive,
)
from airwarn.models.verify.scores import (
    aqi_levels,
    brier_score,
    categorical_scores,
    contingency_counts,
    continuous_scores,
    exact_level_accuracy,
    half_level_accuracy,
    interval_coverage,
    level_accuracy,
    level_sets,
    pinball_crps,
    primary_accuracy,
    range_accuracy,
    reliability_table,
    within_one_level_accuracy,
)
from airwarn.models.verify.stats import block_bootstrap_weights, diebold_mariano
from airwarn.models.verify.warning_verify import read_decisions, verify_warnings

__all__ = [
    "ALL", "TABLES", "VerificationResult", "compare_systems", "unit_groups", "verify_archive",
    "verify_matched", "ForecastArchiveError", "Matched", "match_forecasts", "observed_daily",
    "read_forecast_archive", "aqi_levels", "brier_score", "categorical_scores",
    "contingency_counts", "continuous_scores", "exact_level_accuracy", "half_level_accuracy",
    "interval_coverage", "level_accuracy", "level_sets", "pinball_crps", "primary_accuracy",
    "range_accuracy", "reliability_table", "within_one_level_accuracy", "block_bootstrap_weights",
    "diebold_mariano", "read_decisions", "verify_warnings",
]
