"""The embedded demo world: a synthetic Sichuan-basin atmosphere that everything can run on.

Real NWP and the national observation archive cannot ship with airwarn, so ``airwarn demo`` runs
the real daily job on a generated basin whose pollution responds to the weather like the real
basin's: models have something real to learn, warnings fire in the right seasons, and every stage
can be tested against a known truth. Everything it writes is labelled ``source: synthetic demo``.

Modules
-------
``met``       gridded hourly meteorology (ERA5 names/units) and forecast cycles with errors that
              grow with lead, as an explicit function of (seed, time, point)
``chem``      reduced-form pollution model per forecast unit (emissions, ventilation, transport
              between neighbours, wet removal, secondary PM, O3 photochemistry and titration)
``stations``  station table, station observations and injected defects (with their truth)
``world``     :func:`build_world` (cached), :func:`load_world`, readers and unit-level paths

Public API (docs/INTERFACES.md)
-------------------------------
``build_world(data_dir, *, seed=None, end=None, days=None, stations=None) -> WorldInfo``,
``load_world(data_dir)``, ``analysis(world, start, end) -> xr.Dataset`` (lazy),
``forecast_cycle(world, reference_time) -> xr.Dataset``,
``unit_met_analysis(world, start=None, end=None)``, ``unit_met_forecast(world, reference_time)``,
``unit_met_forecasts(world, reference_times)`` (many cycles at once), ``unit_met(world, ...)``,
``unit_truth(world)``, ``simulate_units(seed, start, end)``, ``summarise_world(world)``.
"""

from airwarn.features.demo_world.world import (
    CYCLE_STEPS,
    DELIVERY_DELAY_H,
    GENERATOR_VERSION,
    WorldInfo,
    analysis,
    build_world,
    current_cycle_time,
    default_issue_time,
    forecast_cycle,
    load_world,
    simulate_units,
    summarise_world,
    unit_met,
    unit_met_analysis,
    unit_met_forecast,
    unit_met_forecasts,
    unit_truth,
)

__all__ = [
    "CYCLE_STEPS",
    "DELIVERY_DELAY_H",
    "GENERATOR_VERSION",
    "WorldInfo",
    "analysis",
    "build_world",
    "current_cycle_time",
    "default_issue_time",
    "forecast_cycle",
    "load_world",
    "simulate_units",
    "summarise_world",
    "unit_met",
    "unit_met_analysis",
    "unit_met_forecast",
    "unit_met_forecasts",
    "unit_truth",
]
