"""Pydantic models for ``configs/models.yaml`` (forecast-model settings) and for the backtest
domain files ``configs/domains/*.yaml``.

Units: learning rate dimensionless; windows in days; concentrations µg/m³; distances km.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from airwarn.configs.schema import StrictModel, load_yaml_model
from pydantic import Field, field_validator, model_validator

from airwarn.core.pollutants import targets as registry_targets

__all__ = ["LgbmParams", "ModelSettings", "DomainStation", "DomainSubRegion", "check_sub_regions",
           "SubRegionModels", "MET_MODES", "sub_region_models_for",
           "HistoryRecord", "DomainConfig", "load_model_settings",
           "load_domain", "datasets_dir"]


class LgbmParams(StrictModel):
    """LightGBM hyper-parameters (see the LightGBM docs for each).

    ``n_seeds`` > 1 fits that many copies of each model with different bagging and
    feature-sampling seeds (``seed``, ``seed`` + 7919, …) and averages them.
    ``min_data_in_leaf_fraction`` (None = off) caps ``min_data_in_leaf`` at that fraction of
    the fit's rows with a target (at least 1): a leaf size tuned on a big training set would
    otherwise forbid every split on a small one (see ``models.lgbm.leaf_rows``).
    """

    num_boost_round: int = Field(default=800, ge=10, le=20000)
    learning_rate: float = Field(default=0.04, gt=0, le=1)
    num_leaves: int = Field(default=31, ge=2, le=1024)
    min_data_in_leaf: int = Field(default=50, ge=1)
    feature_fraction: float = Field(default=0.8, gt=0, le=1)
    bagging_fraction: float = Field(default=0.8, gt=0, le=1)
    bagging_freq: int = Field(default=1, ge=0)
    lambda_l2: float = Field(default=1.0, ge=0)
    #: OpenMP threads; "auto" = the CPUs other processes leave free (models/threads.py)
    num_threads: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"
    seed: int = 42
    n_seeds: int = Field(default=1, ge=1, le=20)
    min_data_in_leaf_fraction: float | None = Field(default=None, gt=0, le=0.5)


def _check_targets(v: list[str]) -> list[str]:
    """Pollutant lists name forecast targets of the registry (configs/pollutants.yaml)."""
    known = registry_targets()
    bad = [p for p in v if p not in known]
    if bad:
        raise ValueError(f"{bad} are not forecast targets; the pollutant registry "
                         f"(configs/pollutants.yaml) has targets {list(known)}")
    return v


class ModelSettings(StrictModel):
    """Forecast-model settings.

    Attributes
    ----------
    pollutants : list of str
        Forecast targets of the pollutant registry (default: all of them).
    daily : LgbmParams
        Direct daily models (one per lead day D+1…D+3, units pooled with the unit as a category).
    daily_no_met : LgbmParams or None
        Direct daily models trained without any future meteorology (``--met none``, or a domain
        with no met source): fewer, smaller trees — without met the signal is weak and the
        bigger model fits noise (Beijing backtest). None → ``daily``.
    hourly : LgbmParams
        Pooled hourly model (lead as a feature).
    omp_wait_policy : {"PASSIVE", "ACTIVE"}
        OpenMP wait policy of the LightGBM threads, applied when ``models`` is first imported
        unless ``OMP_WAIT_POLICY`` is already set (:mod:`models.threads`).
    hourly_lead_stride : int
        Train the hourly model on every n-th lead (with a rotating offset), for speed.
    calibration_fraction : float
        Last fraction of the training issues held out to calibrate the quantiles (conformal, in
        log space) and fit the hourly shape model.
    recency_halflife_days : float or None
        Sample weight halves for every this many days before the end of training (trend,
        skill-notes #2); None = equal weights.
    event_weight : dict
        Extra weight for training days whose target exceeds a threshold (µg/m³), per pollutant:
        ``{"pm25": [150, 2.0]}`` = weight × 2 above 150 (skill-notes #4).
    event_weight_met : dict
        The same for models trained with future meteorology, per pollutant, overriding
        ``event_weight`` there (models without meteorology keep ``event_weight``).
    bias_window_days, bias_min_days, bias_shrink_days : int
        Running bias correction per unit and lead day from the last ``bias_window_days`` issues
        whose outcome is known; applied with weight n / (n + bias_shrink_days); none with fewer
        than ``bias_min_days`` errors.
    bias_correction : bool
        Master switch of the running bias correction.
    bias_lead_days : dict of str to list of int
        Pollutant → lead days (1…3) that get the running bias correction (missing = all).
    bias_lead_days_no_met : dict or None
        The same for models trained without future meteorology (None → ``bias_lead_days``).
    interval_adaptive : bool
        Rescale the calibrated residual spread by the spread of the recent errors (same window
        as the bias correction, units pooled; :func:`models.baselines.running_spread_scale`).
    interval_shrink_errors : float
        Shrinkage of that factor towards 1: weight n / (n + this) for n recent errors.
    log_offset : dict of str to float
        Offset c (µg/m³) per pollutant of the log-ratio residuals log((y + c) / (ŷ + c)) used
        for quantiles.
    daily_designs : list of {"per_lead_day", "pooled"}
        Direct daily models to fit and average: one model per lead day, and/or one model for all
        three lead days with the lead day as a feature.
    linear_recalibration : bool
        Fit ``a + b·ŷ`` per lead day on the calibration split and apply it when it lowers the
        calibration RMSE by ≥ 2 %.
    hourly_blend : bool
        Blend the hourly model's daily product into the daily forecast with a weight chosen on
        the calibration split (0, 0.25, 0.5 or 0.75; only when it helps ≥ 1 %).
    climatology_blend : {"never", "no_met", "always"}
        Relax the bias-corrected daily forecast towards the unit's day-of-year climatology,
        ``(1 − w)·ŷ + w·clim``, with ``w`` per lead day chosen on out-of-fold forecasts of the
        whole training period (grid 0…``climatology_blend_max`` by 0.05; only when it lowers
        their RMSE by ≥ 1 %). A weak forecast (no future meteorology, lead
        days 2–3) carries noise that a forecast closer to climatology does not. The
        cross-validation costs about one extra training per fold, so by default it runs only
        for models without future meteorology ("no_met"); with meteorology every weight > 0
        raised the out-of-fold RMSE (Beijing, perfect met).
    persistence_blend : {"never", "no_met", "always"}
        Blend the bias-corrected daily forecast with the last observed daily value (yesterday's
        daily product, known at a midday issue), ``(1 − a)·ŷ + a·obs``, with ``a`` per lead
        day chosen on the same out-of-fold forecasts as the climatology blend (grid
        0…``persistence_blend_max`` by 0.05; only when it lowers their RMSE by ≥ 1 %), before
        that blend.
    persistence_blend_max : float
        Largest weight tried (0–1).
    climatology_blend_folds : int
        Cross-validation folds for that choice: calendar months interleaved (month index mod
        folds; 5 puts the same month of consecutive years in different folds), one seed.
    climatology_blend_max : float
        Largest weight tried (0–1): the out-of-fold choice (one seed, folds with gaps) is noisy
        and overshoots (see configs/models.yaml).
    climatology_half_window_days : int
        Half-width (days) of the day-of-year window of that climatology (all training years).
    pooled_weight : dict of int to float
        Lead day → weight (0–1) of the pooled model when both designs are fitted.
    pooled_weight_met : dict
        Pollutant → (lead day → weight): overrides ``pooled_weight`` for the models trained with
        future meteorology (:meth:`pooled_weight_for`); lead days it does not name keep
        ``pooled_weight``.
    min_data_in_leaf_met : dict of str to int
        Pollutant → ``min_data_in_leaf`` (rows) of its daily models trained with future
        meteorology, over ``daily.min_data_in_leaf`` (:meth:`daily_params_for`); pollutants it
        does not name keep ``daily``.
    min_data_in_leaf_fraction_met : dict of str to float
        Pollutant → cap on that leaf size as a share of a fit's rows (``min_data_in_leaf_fraction``
        of :func:`models.lgbm.leaf_rows`), over ``daily.min_data_in_leaf_fraction``: a leaf size
        chosen on many units does not leave a domain of few units one split a tree.
    issue_hours : list of int or None
        Local issue hours to train for (default: settings.issue_hours).
    baseline_window_days : int
        Recent days over which the fallback picks the best baseline per unit.
    """

    pollutants: list[str] = Field(default_factory=lambda: list(registry_targets()))
    daily: LgbmParams = Field(default_factory=LgbmParams)
    daily_no_met: LgbmParams | None = None
    hourly: LgbmParams = Field(default_factory=lambda: LgbmParams(num_boost_round=400,
                                                                   learning_rate=0.05,
                                                                   num_leaves=63))
    hourly_lead_stride: int = Field(default=3, ge=1, le=24)
    omp_wait_policy: Literal["PASSIVE", "ACTIVE"] = "PASSIVE"
    calibration_fraction: float = Field(default=0.25, gt=0, lt=0.9)
    recency_halflife_days: float | None = Field(default=365.0, gt=0)
    event_weight: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {"pm25": (150.0, 1.5), "o3": (215.0, 1.5)})
    event_weight_met: dict[str, tuple[float, float]] = Field(default_factory=dict)
    bias_correction: bool = True
    bias_lead_days: dict[str, list[int]] = Field(
        default_factory=lambda: {"pm25": [1, 2, 3], "o3": [1, 2, 3]})
    bias_lead_days_no_met: dict[str, list[int]] | None = None
    interval_adaptive: bool = True
    interval_shrink_errors: float = Field(default=300.0, ge=0)
    bias_window_days: int = Field(default=28, ge=1)
    bias_min_days: int = Field(default=7, ge=1)
    bias_shrink_days: float = Field(default=14.0, ge=0)
    log_offset: dict[str, float] = Field(default_factory=lambda: {"pm25": 10.0, "o3": 40.0})
    daily_designs: list[Literal["per_lead_day", "pooled"]] = Field(
        default_factory=lambda: ["per_lead_day", "pooled"], min_length=1)
    linear_recalibration: bool = True
    hourly_blend: bool = True
    climatology_blend: Literal["never", "no_met", "always"] = "no_met"
    climatology_blend_max: float = Field(default=0.3, ge=0, le=1)
    persistence_blend: Literal["never", "no_met", "always"] = "never"
    persistence_blend_max: float = Field(default=0.5, ge=0, le=1)
    climatology_blend_folds: int = Field(default=5, ge=2, le=12)
    climatology_half_window_days: int = Field(default=15, ge=1, le=60)
    pooled_weight: dict[int, float] = Field(default_factory=lambda: {1: 0.5, 2: 0.5, 3: 0.5})
    pooled_weight_met: dict[str, dict[int, Annotated[float, Field(ge=0, le=1)]]] = Field(
        default_factory=dict)
    min_data_in_leaf_met: dict[str, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)
    min_data_in_leaf_fraction_met: dict[str, Annotated[float, Field(gt=0, le=0.5)]] = Field(
        default_factory=dict)
    issue_hours: list[int] | None = None
    baseline_window_days: int = Field(default=60, ge=7)

    @field_validator("pollutants")
    @classmethod
    def _targets(cls, v: list[str]) -> list[str]:
        return _check_targets(v)

    @field_validator("min_data_in_leaf_met", "min_data_in_leaf_fraction_met")
    @classmethod
    def _leaf_targets(cls, v: dict[str, Any]) -> dict[str, Any]:
        _check_targets(list(v))
        return v

    def daily_params_for(self, pollutant: str, met: bool) -> LgbmParams:
        """LightGBM parameters of ``pollutant``'s direct daily models: ``daily`` with
        ``min_data_in_leaf_met[pollutant]`` and ``min_data_in_leaf_fraction_met[pollutant]``
        over it when the models see future meteorology; without it ``daily_no_met`` (``daily``
        when unset)."""
        if not met:
            return self.daily if self.daily_no_met is None else self.daily_no_met
        upd: dict[str, Any] = {}
        if pollutant in self.min_data_in_leaf_met:
            upd["min_data_in_leaf"] = self.min_data_in_leaf_met[pollutant]
        if pollutant in self.min_data_in_leaf_fraction_met:
            upd["min_data_in_leaf_fraction"] = self.min_data_in_leaf_fraction_met[pollutant]
        return self.daily.model_copy(update=upd) if upd else self.daily

    def event_weight_for(self, pollutant: str, met: bool) -> tuple[float, float] | None:
        """(threshold µg/m³, weight) of ``pollutant``'s event days: ``event_weight_met`` when
        the models see future meteorology and it names the pollutant, else ``event_weight``;
        None = no extra weight."""
        if met and pollutant in self.event_weight_met:
            return self.event_weight_met[pollutant]
        return self.event_weight.get(pollutant)

    def pooled_weight_for(self, pollutant: str, met: bool) -> dict[int, float]:
        """Lead day → weight (0–1) of the pooled daily design for ``pollutant``'s models:
        ``pooled_weight``, with ``pooled_weight_met[pollutant]`` over it for models that see
        future meteorology."""
        if met and pollutant in self.pooled_weight_met:
            return {**self.pooled_weight, **self.pooled_weight_met[pollutant]}
        return dict(self.pooled_weight)


class DomainStation(StrictModel):
    """A station of a benchmark domain: its own unit, or a member of ``sub_region`` (an id of the
    domain's ``sub_regions``)."""

    id: str
    name: str = ""
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    sub_region: str | None = None


class DomainSubRegion(StrictModel):
    """A forecast unit made of the domain's stations whose ``sub_region`` is its id (a city, a
    district group), as the operational domain's sub-regions are: the unit's hourly value is the
    mean of its valid stations' (:func:`features.aggregate.stations_to_units`).

    Attributes
    ----------
    id : str
    name : str
        As the users name it (e.g. 北京市).
    min_stations : int
        Fewest valid stations for a unit-hour value of a variable (fewer: missing).
    """

    id: str = Field(min_length=1)
    name: str = ""
    min_stations: int = Field(default=1, ge=1)


def check_sub_regions(stations: list[Any], sub_regions: list[DomainSubRegion]) -> None:
    """Every station's ``sub_region`` is listed, every listed one has ≥ ``min_stations``
    stations, and either every station has a sub-region or none has (ValueError naming them)."""
    ids = [r.id for r in sub_regions]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ValueError(f"sub_regions: id(s) {dup} listed more than once")
    member = [s for s in stations if s.sub_region is not None]
    if not sub_regions and not member:
        return
    alone = [s.id for s in stations if s.sub_region is None]
    if alone:
        raise ValueError(f"station(s) {alone} have no sub_region; in a domain with sub-regions "
                         "every station belongs to one")
    unknown = sorted({s.sub_region for s in member} - set(ids))
    if unknown:
        raise ValueError(f"sub_region(s) {unknown} of the stations are not in sub_regions {ids}")
    for r in sub_regions:
        n = sum(s.sub_region == r.id for s in member)
        if n < r.min_stations:
            raise ValueError(f"sub-region {r.id!r}: min_stations {r.min_stations} is more than "
                             f"its {n} station(s)")


#: the met modes of a backtest or hindcast (``--met``): observed meteorology at the valid time,
#: synthesised forecast cycles, none (a degraded run's models)
MET_MODES: tuple[str, ...] = ("perfect", "cycles", "none")
SubRegionKind = Literal["mean", "members"]
#: how a domain's sub-regions are forecast: one choice, or one per met mode (modes not named:
#: ``mean``)
SubRegionModels = SubRegionKind | dict[Literal["perfect", "cycles", "none"], SubRegionKind]


def sub_region_models_for(setting: SubRegionModels, met: str) -> str:
    """``mean`` or ``members``: the ``sub_region_models`` setting for met mode ``met``.

    Raises
    ------
    ValueError
        ``met`` is not one of :data:`MET_MODES`.
    """
    if met not in MET_MODES:
        raise ValueError(f"met mode {met!r}: expected one of {list(MET_MODES)}")
    return setting if isinstance(setting, str) else setting.get(met, "mean")  # type: ignore[arg-type]


class HistoryRecord(StrictModel):
    """An earlier record of one unit from another source (``history:`` of a backtest domain).

    Used for training only where the unit has no record of its own yet, after homogenisation onto
    the unit's record over ``overlap_until`` (:func:`features.history.extend_unit_record`).

    Attributes
    ----------
    reader : {"prsa", "five_cities"}
        Reader of ``file`` (as :attr:`DomainConfig.reader`).
    file : str
        Path relative to the datasets directory.
    station : str
        Station id in that file as the reader names it (e.g. ``beijing_us_post``).
    unit : str
        The domain unit it extends (a station id of the domain).
    overlap_until : str
        Last local day of the side-by-side period the mapping is fitted on (ISO date); it must end
        before every period that is scored (a hindcast's or fold's first issue).
    start : str, optional
        First local day of the earlier record to use (ISO date).
    min_overlap_hours : int
        Fewest hours both records must share for each mapped variable (default 1,440: 60 days).
    note : str
        Why this record stands for the unit (distance, instrument).
    """

    reader: Literal["prsa", "five_cities"]
    file: str
    station: str
    unit: str
    overlap_until: str
    start: str | None = None
    min_overlap_hours: int = Field(default=1440, ge=1)
    note: str = ""


class DomainConfig(StrictModel):
    """A backtest domain: where its files are and how to read them.

    Attributes
    ----------
    name : str
    reader : {"prsa", "five_cities"}
        ``features.readers.uci.read_prsa`` or ``read_five_cities``.
    files : list of str
        Glob patterns relative to the datasets directory (``AIRWARN_DATASETS_DIR``, default
        ``../shared/datasets`` from the repository root).
    stations : list of DomainStation
        Coordinates for transport features (degrees).
    neighbour_radius_km : float
        Stations within this distance are neighbours.
    pollutants : list of str
    source : str
        Citation of the data set.
    history : list of HistoryRecord
        Earlier records that extend units back in time for training (default none).
    sub_regions : list of DomainSubRegion
        Forecast units made of the stations (their ``sub_region``; default none: each station is
        its own unit). History records extend stations, before they are averaged.
    sub_region_models : {"mean", "members"} or dict of met mode to it
        How a sub-region is forecast: models trained on its mean series (``mean``), or on its
        stations, whose forecasts are averaged into it (``members``: more rows to train on;
        :func:`models.forecast.aggregate_units`); one choice for every met mode, or one per
        mode (``{perfect: mean, none: members}``; modes not named: ``mean``;
        :meth:`models_for`). Warnings and verification are the sub-regions' either way.
    """

    name: str
    reader: Literal["prsa", "five_cities"]
    files: list[str] = Field(min_length=1)
    stations: list[DomainStation] = Field(default_factory=list)
    neighbour_radius_km: float = Field(default=60.0, gt=0)
    pollutants: list[str] = Field(default_factory=lambda: list(registry_targets()))
    source: str = ""
    history: list[HistoryRecord] = Field(default_factory=list)
    sub_regions: list[DomainSubRegion] = Field(default_factory=list)
    sub_region_models: SubRegionModels = "mean"

    def models_for(self, met: str) -> str:
        """``mean`` or ``members``: how the sub-regions are forecast with met mode ``met``."""
        return sub_region_models_for(self.sub_region_models, met)

    @field_validator("pollutants")
    @classmethod
    def _targets(cls, v: list[str]) -> list[str]:
        return _check_targets(v)

    @model_validator(mode="after")
    def _stations_in_sub_regions(self) -> DomainConfig:
        check_sub_regions(self.stations, self.sub_regions)
        return self


def load_model_settings(path: Path | str | None = None) -> ModelSettings:
    """Load ``configs/models.yaml`` (or the given file) into :class:`ModelSettings`."""
    from airwarn.configs import config_dir

    return load_yaml_model(path or config_dir() / "models.yaml", ModelSettings)


def load_domain(path: Path | str) -> DomainConfig:
    """Load a backtest domain file (``configs/domains/<name>.yaml``)."""
    return load_yaml_model(path, DomainConfig)


def datasets_dir() -> Path:
    """``AIRWARN_DATASETS_DIR`` or ``<repo>/../shared/datasets``."""
    env = os.environ.get("AIRWARN_DATASETS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"
