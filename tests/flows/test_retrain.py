"""Weekly retraining: a candidate is promoted only if no worse on the hold-out weeks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.flows.conftest import ISSUE, _small_settings


def test_retrain_compares_and_records_in_card(data_dir):
    from airwarn.flows.retrain import run_retrain
    from airwarn.models.registry import list_versions, load_latest

    before = {p: load_latest(data_dir, p).card["version"] for p in ("pm25", "o3")}
    out = run_retrain(ISSUE.isoformat(), data_dir, met="perfect", compare_weeks=2,
                      settings=_small_settings(), train_days=84, refit=False)
    assert [s["name"] for s in out["stages"]][:2] == ["train_candidate", "compare"]
    assert "train_final" not in [s["name"] for s in out["stages"]]
    for p in ("pm25", "o3"):
        cur, cand = out["scores"]["current"][p], out["scores"]["candidate"][p]
        assert 0 < cur < 200 and 0 < cand < 200
        assert out["promoted"][p] == (cand <= cur)
        latest = load_latest(data_dir, p).card
        if out["promoted"][p]:
            assert latest["version"] != before[p]
            assert latest["promotion"]["promoted"] is True
            assert latest["promotion"]["rmse_candidate"] == pytest.approx(cand)
            assert latest["promotion"]["rmse_current"] == pytest.approx(cur)
            assert len(list_versions(data_dir, p)) == 2
        else:
            assert latest["version"] == before[p]
            assert len(list_versions(data_dir, p)) == 1
    # the hold-out candidates stay in staging with the decision recorded in their cards
    staged = sorted(Path(out["staging"]).glob("holdout/models/*/*/card.json"))
    assert len(staged) == len(out["promoted"])
    for card in staged:
        rec = json.loads(card.read_text())["promotion"]
        assert rec["promoted"] == out["promoted"][card.parent.parent.name]
    summary = sorted((data_dir / "models" / "retrain").glob("*.json"))
    assert len(summary) == 1
