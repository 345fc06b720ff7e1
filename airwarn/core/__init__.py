"""The ground floor: what every layer needs once, importing none of the six packages.

Modules
-------
pollutants
    The pollutant registry (``configs/pollutants.yaml``): names, units, CF names, daily statistic,
    IAQI periods, which pollutants are forecast targets.
daily
    The one implementation of the regulatory daily statistics (daily mean ≥ 20 h, 8-h means
    ≥ 6 of 8 h, MDA8 ≥ 14 of 17 windows, daily 1-h maximum).
timeutil
    The local time zone (``settings.yaml`` ``timezone``), the issue-time parser and the run stamp.
atomic
    Atomic file writes (temp file beside the target, then rename).
runstore
    :class:`~airwarn.core.runstore.RunStore`, the data-directory layout.
"""
