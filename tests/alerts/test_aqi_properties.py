"""Hypothesis properties of the AQI engine: monotone, bounded, AQI = max IAQI, vector == scalar."""

from __future__ import annotations

import numpy as np
import pandas as pd
from airwarn.alerts.aqi import compute, iaqi, iaqi_array
from hypothesis import given, settings
from hypothesis import strategies as st

RULESETS = st.sampled_from(["HJ633_2012", "HJ633_2026"])
INDICATORS = st.sampled_from([
    ("so2", "1h"), ("so2", "24h"), ("no2", "1h"), ("no2", "24h"), ("co", "1h"), ("co", "24h"),
    ("o3", "1h"), ("o3", "8h"), ("pm10", "1h"), ("pm10", "24h"), ("pm25", "1h"), ("pm25", "24h"),
])
# Realistic concentrations (≤ 3 decimals) and arbitrary floats (exercise the rational path).
DECIMAL_CONC = st.integers(min_value=0, max_value=5_000_000).map(lambda i: i / 1000)
ANY_CONC = st.floats(min_value=0, max_value=5000, allow_nan=False, allow_infinity=False)
CONC = st.one_of(DECIMAL_CONC, ANY_CONC)

FAST = settings(max_examples=150, deadline=None)


@FAST
@given(ind=INDICATORS, rs=RULESETS, a=CONC, b=CONC)
def test_monotone_non_decreasing(ind: tuple[str, str], rs: str, a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    i_lo, i_hi = iaqi(ind[0], lo, ind[1], rs), iaqi(ind[0], hi, ind[1], rs)
    if i_lo is not None and i_hi is not None:
        assert i_lo <= i_hi
    if i_lo is None:  # "not computed" (2012, above 800) stays not computed above
        assert i_hi is None


@FAST
@given(ind=INDICATORS, rs=RULESETS, c=CONC)
def test_bounds(ind: tuple[str, str], rs: str, c: float) -> None:
    v = iaqi(ind[0], c, ind[1], rs)
    assert v is None or (isinstance(v, int) and 0 <= v <= 500)


@FAST
@given(ind=INDICATORS, rs=RULESETS, values=st.lists(st.one_of(CONC, st.just(float("nan"))),
                                                    min_size=1, max_size=30))
def test_vectorised_equals_scalar(ind: tuple[str, str], rs: str, values: list[float]) -> None:
    got = iaqi_array(ind[0], np.array(values), ind[1], rs)
    want = [iaqi(ind[0], v, ind[1], rs) for v in values]
    for g, w in zip(got, want, strict=True):
        assert (np.isnan(g) and w is None) or g == w
    series = iaqi_array(ind[0], pd.Series(values), ind[1], rs)
    np.testing.assert_array_equal(series.to_numpy(), got)


@FAST
@given(rs=RULESETS, rows=st.lists(st.tuples(*[DECIMAL_CONC] * 7), min_size=1, max_size=10))
def test_aqi_is_max_iaqi(rs: str, rows: list[tuple[float, ...]]) -> None:
    cols = ["pm25", "pm10", "so2", "no2", "co", "o3_8h_max", "o3_1h_max"]
    df = pd.DataFrame(rows, columns=cols)
    df["co"] = df["co"] / 100  # mg/m³ range
    out = compute(rs, "daily", df)
    iaqi_cols = [c for c in out.columns if c.startswith("iaqi_")]
    expected = out[iaqi_cols].astype("Float64").max(axis=1, skipna=True)
    if rs == "HJ633_2026":
        expected = expected.clip(lower=1)
    assert (out["aqi"].astype("Float64") == expected).all()
    assert out["level"].between(1, 6).all()
    for _, r in out.iterrows():
        if r.aqi > 50:
            assert pd.notna(r.primary)
        else:
            assert pd.isna(r.primary)


def test_xarray_roundtrip() -> None:
    import xarray as xr

    da = xr.DataArray(np.array([[35.0, 75.0], [np.nan, 151.0]]), dims=("time", "region"),
                      attrs={"units": "µg/m³"})
    out = iaqi_array("pm25", da, "24h", "HJ633_2026")
    assert out.dims == ("time", "region") and out.attrs["units"] == "1"
    np.testing.assert_array_equal(out.values, [[50, 114], [np.nan, 201]])
