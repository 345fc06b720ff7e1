"""The hindcast's training folds (models.verify.folds): the cross-fitted fold's plan on the real
Chengdu training year, and a real cross-fitted backtest on the tiny Beijing slice (2 stations,
60 days; tests/data/uci, CC BY 4.0)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from airwarn.models.backtest import load_domain_data
from airwarn.models.verify.folds import (
    cross_fitted_backtest,
    cross_fold_plan,
    default_fold_scheme,
    last_fold_window,
    protected_days,
    training_issue_mask,
)

from tests.models.test_backtest import DOMAIN
from tests.models.test_backtest import TINY as _TINY

DATA = Path(__file__).resolve().parents[1] / "data"
TINY = _TINY.model_copy(update={"daily_designs": ["pooled"]})


def _check_plan(plan) -> None:
    """Every issue day held out by exactly one fold; no fold trains on an issue whose targets
    (issue day … D+3, widened by the gap) touch a protected day of its held-out blocks."""
    days = plan.issue_days
    held = np.zeros(len(days), dtype=int)
    for f, a, b in plan.blocks:
        held += np.asarray((days >= a) & (days <= b))
        assert (plan.fold[(days >= a) & (days <= b)] == f).all()
    assert (held == 1).all()
    for j in range(plan.n_folds):
        keep = training_issue_mask(plan, j)
        prot = set(protected_days(plan, j))
        assert keep.any() and not keep[plan.fold == j].any()
        for d in days[keep]:
            window = pd.date_range(d - pd.Timedelta(days=plan.gap_days),
                                   d + pd.Timedelta(days=plan.horizon_days + plan.gap_days))
            assert not prot.intersection(window), (j, d)
        # the purge is tight: the issue just outside the widened window trains
        for f, a, b in plan.blocks:
            if f != j:
                continue
            before = a - pd.Timedelta(days=plan.horizon_days + plan.gap_days + 1)
            after = b + pd.Timedelta(days=plan.horizon_days + plan.gap_days + 1)
            for d in (before, after):
                if days[0] <= d <= days[-1] and plan.fold[days.get_loc(d)] != j:
                    assert keep[days.get_loc(d)], (j, d)


def test_cross_fold_plan_of_the_chengdu_training_year() -> None:
    # Chengdu 2013: first observation 2013-01-01, 31 warm-up days, train_end 2013-12-31
    plan = cross_fold_plan("2013-02-01", "2013-12-28")
    assert plan.n_folds == 4 and len(plan.issue_days) == 331
    _check_plan(plan)
    # season-complete: every fold trains on issue days of every quarter Feb … Dec
    for j in range(4):
        months = set(plan.issue_days[training_issue_mask(plan, j)].month)
        assert {q for q in (1, 2, 3, 4) if {(q - 1) * 3 + m for m in (1, 2, 3)} & months} \
            == {1, 2, 3, 4}
        share = training_issue_mask(plan, j).mean()
        assert 0.6 < share < 0.75
    # the first block is held out by fold 0; fold 0's first training issue comes after its
    # protected days (02-01 … 03-02, + D+3) and the 3-day gap
    assert plan.blocks[0] == (0, pd.Timestamp("2013-02-01"), pd.Timestamp("2013-03-02"))
    keep0 = plan.issue_days[training_issue_mask(plan, 0)]
    assert keep0[0] == pd.Timestamp("2013-03-02") + pd.Timedelta(days=3 + 3 + 1)
    # the 1-day tail (12-28) joined the block before it: 11 blocks, the last 31 days
    assert len(plan.blocks) == 11 and plan.blocks[-1][1:] == (pd.Timestamp("2013-11-28"),
                                                               pd.Timestamp("2013-12-28"))


def test_default_scheme_and_last_window() -> None:
    # Chengdu: one training year → cross; Beijing: two years (2013-03-01 … 2015-02-28) → last
    assert default_fold_scheme("2013-01-01", "2013-12-31") == "cross"
    assert default_fold_scheme("2013-03-01", "2015-02-28") == "last"
    assert last_fold_window("2013-12-31", 150) == (pd.Timestamp("2013-08-03"),
                                                   pd.Timestamp("2013-08-04"),
                                                   pd.Timestamp("2013-12-28"))
    with pytest.raises(ValueError, match="fewer than n_folds"):
        cross_fold_plan("2013-02-01", "2013-03-01", n_folds=4, block_days=30)


def test_cross_fitted_backtest_on_a_real_slice() -> None:
    data = load_domain_data(DOMAIN, root=DATA)
    ds, info = cross_fitted_backtest(data, train_end="2013-04-29", met="perfect",
                                     settings=TINY, quantiles=[0.1, 0.5, 0.9], n_folds=2,
                                     block_days=20, gap_days=1, warmup_days=3,
                                     pollutants=["pm25", "o3"])
    its = pd.DatetimeIndex(ds["issue_time"].values)
    days = (its.tz_localize("UTC").tz_convert("Asia/Shanghai").tz_localize(None)).normalize()
    # every training issue day once, in order: 2013-03-04 (3 warm-up days) … 04-26 (D+3 = end)
    assert list(days) == list(pd.date_range("2013-03-04", "2013-04-26"))
    assert np.isfinite(ds["pm25_daily"].sel(day=1).values).all()
    # no target after train_end: the last issue's D+3 is 04-29
    assert str(ds["date"].values[-1, -1]) == "2013-04-29"
    blocks = info["blocks"]
    assert [(b["fold"], b["first"], b["last"]) for b in blocks] == [
        (0, "2013-03-04", "2013-03-23"), (1, "2013-03-24", "2013-04-12"),
        (0, "2013-04-13", "2013-04-26")]
    for fold in info["folds"]:
        trained = pd.DatetimeIndex(fold["train_issue_days"])
        assert len(trained) > 0
        for b in blocks:
            if b["fold"] != fold["fold"]:
                continue
            p0, p1 = pd.Timestamp(b["first"]), pd.Timestamp(b["last"]) + pd.Timedelta(days=3)
            # no training issue whose targets (issue day … D+3) ± 1 gap day touch the block
            assert not ((trained + pd.Timedelta(days=4) >= p0)
                        & (trained - pd.Timedelta(days=1) <= p1)).any()
    # fold 1 (held out 03-24 … 04-12, scored to 04-15) trains on 03-04 … 03-19 (D+3 03-22,
    # 1 gap day) and 04-17 … 04-26
    f1 = pd.DatetimeIndex(info["folds"][1]["train_issue_days"])
    assert list(f1) == list(pd.date_range("2013-03-04", "2013-03-19")) + list(
        pd.date_range("2013-04-17", "2013-04-26"))
