import dataclasses

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from sniper_pipeline.engine import EngineParams
from sniper_pipeline.evaluation.budget import notifications, weeks_between
from sniper_pipeline.evaluation.walkforward import (
    CRASH_RULE,
    DEFAULT_GRID,
    PERCENTILE_LEVELS,
    WindowScore,
    apply_overrides,
    base_values,
    grid_points,
    rolling_splits,
    run_study,
    selection_key,
)


def test_budget_counts_opens_and_upgrades_only():
    ts = pd.Timestamp("2025-01-01", tz="UTC")
    events = pd.DataFrame(
        {
            "coin": ["BTC"] * 6 + ["ETH"],
            "event": ["open", "upgrade", "escalate", "close", "anti_flip_suppressed", "open", "open"],
            "tier": ["watch", "action", "action", "action", "watch", "action", "watch"],
            "ts": [ts + pd.Timedelta(hours=4 * i) for i in range(7)],
        }
    )
    assert len(notifications(events)) == 4
    per_week = notifications(events).groupby("coin").size() / weeks_between(ts, ts + pd.Timedelta(days=14))
    assert per_week.to_dict() == {"BTC": 1.5, "ETH": 0.5}


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(0, 3000),
    fit=st.integers(1, 800),
    score=st.integers(1, 400),
    purge=st.integers(0, 50),
    start=st.integers(0, 300),
)
def test_walkforward_never_scores_a_bar_in_its_own_fit_window(n, fit, score, purge, start):
    splits = rolling_splits(n, fit_bars=fit, score_bars=score, purge_bars=purge, start=start)
    previous_end = None
    for s in splits:
        fit_bars = set(range(s.fit_start, s.fit_end))
        score_bars = set(range(s.score_start, s.score_end))
        assert score_bars and not fit_bars & score_bars
        assert len(fit_bars) == fit and s.fit_start >= start
        # Fit precedes score by at least the purge: no fit bar's forward horizon reaches it.
        assert s.fit_end + purge <= s.score_start
        assert max(fit_bars) + purge < min(score_bars)
        assert s.score_end <= n
        if previous_end is not None:
            assert s.score_start == previous_end  # rolling: score windows tile, never overlap
        previous_end = s.score_end


def test_apply_overrides_and_grid():
    base = EngineParams()
    p = apply_overrides(base, {PERCENTILE_LEVELS: (90, 97, 99.5), "confluence.extreme_override_layers": 2})
    assert p.thresholds.high_percentiles == (90.0, 97.0, 99.5)
    assert p.thresholds.low_percentiles == (10.0, 3.0, 0.5)
    assert p.confluence.extreme_override_layers == 2
    assert dataclasses.replace(p, thresholds=base.thresholds, confluence=base.confluence) == base
    assert len(list(grid_points({"a": (1, 2), "b": (3, 4, 5)}))) == 6


def test_crash_rule_grid_key_sets_both_levels_and_off_keeps_the_oi_level():
    base = EngineParams()
    on = apply_overrides(base, {CRASH_RULE: (3, 0)})
    assert (on.confluence.crash_liq_level, on.confluence.crash_oi_level) == (3, 0)
    assert base_values(on, [CRASH_RULE]) == {CRASH_RULE: (3, 0)}
    off = apply_overrides(on, {CRASH_RULE: None})
    assert (off.confluence.crash_liq_level, off.confluence.crash_oi_level) == (None, 0)
    assert base_values(off, [CRASH_RULE]) == {CRASH_RULE: None}
    assert base_values(base, [CRASH_RULE]) == {CRASH_RULE: None}
    # Every option of the default grid is a valid rule (the engine refuses invalid levels).
    for option in DEFAULT_GRID[CRASH_RULE]:
        apply_overrides(base, {CRASH_RULE: option})


def test_selection_prefers_budget_then_catch_then_lift():
    within = WindowScore({"BTC": 0.5}, 0.0, 1, 3, 1.2)
    better_catch = WindowScore({"BTC": 0.9}, 0.0, 3, 3, 1.0)
    over = WindowScore({"BTC": 3.0}, 0.0, 3, 3, 5.0)
    keys = [selection_key(s, 1.0, 0, i) for i, s in enumerate([within, better_catch, over])]
    assert min(range(3), key=lambda i: keys[i]) == 1
    assert keys[2] > keys[0]


def _synthetic_bars(coin: str, seed: int, n: int = 700) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2025-01-01", periods=n, freq="4h", tz="UTC")
    liq = rng.lognormal(15, 1, n)
    return pd.DataFrame(
        {
            "coin": coin,
            "interval": "4h",
            "ts": ts,
            "close_at": ts + pd.Timedelta("4h"),
            "is_closed": True,
            "funding_bps_8h": rng.normal(1, 0.5, n),
            "funding_abs_bps_8h": None,
            "oi_roc_pct": rng.normal(0, 1, n),
            "liq_long_usd": liq * 0.5,
            "liq_short_usd": liq * 0.5,
            "liq_total_usd": liq,
            "liq_polarity": rng.uniform(-1, 1, n),
            "taker_ratio": rng.lognormal(0, 0.1, n),
            "close_usd": 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n))),
        }
    ).assign(funding_abs_bps_8h=lambda f: f["funding_bps_8h"].abs())


def test_study_runs_and_respects_the_budget_on_synthetic_bars():
    bars = {c: _synthetic_bars(c, i) for i, c in enumerate(["AAA", "BBB"])}
    grid = {
        PERCENTILE_LEVELS: ((85.0, 95.0, 99.0), (95.0, 98.0, 99.5)),
        "confluence.watch_min_layers": (2, 3),
    }
    result = run_study(bars, EngineParams(), budget=1.0, grid=grid, fit_days=40, score_days=20)
    assert len(result.candidates) == 4 and result.folds
    assert result.base.changed == {}
    for fold in result.folds:
        assert fold.fit_range[1] <= fold.score_range[0]
        if fold.fit.max_per_week <= 1.0:
            assert fold.chosen.changed is not None
    feasible = result.table[result.table["within_budget"]]
    if not feasible.empty:
        assert result.final_score.max_per_week <= 1.0
