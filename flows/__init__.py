"""airwarn flows: Prefect flows that orchestrate the packages, and the ``airwarn`` CLI.

Importing this package applies :func:`flows.prefect_env.configure_prefect` first, so Prefect
(imported by the flow modules) sees airwarn's environment: ``PREFECT_HOME`` in the data directory,
telemetry off, quiet logging. Variables already set in the environment win.
"""

from airwarn.flows.prefect_env import configure_prefect as _configure_prefect

try:
    _configure_prefect()
except Exception:  # a bad settings.yaml is reported by the command that loads it, not here
    _configure_prefect("data")
