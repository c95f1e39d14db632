from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sniper_pipeline.engine import (
    TighteningParams,
    run_engine,
    tighten_lower,
    tighten_upper,
    tightening_factor,
    trigger_flags,
)

from .helpers import make_bars, ramp, small_params


def _flags(spec: str) -> np.ndarray:
    return np.array([c == "T" for c in spec])


def test_arm_and_decay_timeline() -> None:
    # window 3, decay 3: the trigger at bar 1 arms bars 2..4, then 2/3, 1/3, 0.
    factor = tightening_factor(_flags(".T........"), window_bars=3, decay_bars=3)
    expected = [0, 0, 1, 1, 1, 2 / 3, 1 / 3, 0, 0, 0]
    np.testing.assert_allclose(factor, expected)


def test_a_new_trigger_rearms_for_a_full_window() -> None:
    # Triggers at 0 and 3: armed 1..6 (3 bars after the last trigger), then decay.
    factor = tightening_factor(_flags("T..T......"), window_bars=3, decay_bars=3)
    np.testing.assert_allclose(factor, [0, 1, 1, 1, 1, 1, 1, 2 / 3, 1 / 3, 0])


def test_trigger_during_decay_restores_full_tightening() -> None:
    factor = tightening_factor(_flags("T....T...."), window_bars=3, decay_bars=3)
    np.testing.assert_allclose(factor, [0, 1, 1, 1, 2 / 3, 1 / 3, 1, 1, 1, 2 / 3])


def test_no_decay_switches_off_at_once() -> None:
    factor = tightening_factor(_flags("T....."), window_bars=2, decay_bars=0)
    np.testing.assert_allclose(factor, [0, 1, 1, 0, 0, 0])


def test_no_trigger_no_tightening() -> None:
    assert not tightening_factor(_flags("......"), 3, 3).any()


def test_trigger_is_strict_and_nan_safe() -> None:
    flags = trigger_flags(np.array([5.0, 5.1, np.nan, 9.0]), np.array([5.0, 5.0, 5.0, np.nan]))
    assert flags.tolist() == [False, True, False, False]


def test_adjustment_is_capped_at_the_extreme_threshold() -> None:
    action, extreme = np.array([1.10, 1.10, 1.10]), np.array([1.20, 1.12, 1.20])
    factor = np.array([1.0, 1.0, 0.5])
    np.testing.assert_allclose(tighten_upper(action, extreme, 0.05, factor), [1.15, 1.12, 1.125])
    low_action, low_extreme = np.array([0.90, 0.90]), np.array([0.80, 0.88])
    np.testing.assert_allclose(tighten_lower(low_action, low_extreme, 0.05, np.ones(2)), [0.85, 0.88])


@pytest.mark.parametrize(("interval", "bars"), [("4h", 42), ("1h", 168), ("1d", 7), ("15m", 672)])
def test_window_is_seven_days_of_bars(interval: str, bars: int) -> None:
    assert TighteningParams().resolved_window_bars(interval) == bars
    assert TighteningParams(window_bars=5).resolved_window_bars(interval) == 5


def test_engine_tightens_taker_and_oi_action_thresholds_bar_by_bar() -> None:
    # Flat liquidations (p99 = 1, never exceeded) with one spike at bar 20; OI ROC and taker
    # cycle through 10 values so that their action and extreme thresholds differ.
    n = 30
    liq = np.ones(n)
    liq[20] = 50.0
    bars = make_bars(n, liq_total_usd=liq, oi_roc_pct=ramp(n), taker_ratio=ramp(n, 0.8, 1.25))
    signals = run_engine(bars, small_params(lookback=10, window_bars=3, decay_bars=3)).signals
    factor = signals["tightening_factor"].to_numpy()
    np.testing.assert_allclose(factor[19:28], [0, 0, 1, 1, 1, 2 / 3, 1 / 3, 0, 0])
    assert np.flatnonzero(signals["tightening_trigger"].to_numpy()).tolist() == [20]
    # Taker cycle 0.80..1.25 in steps of 0.05: p95 = 0.8 + 8.55 * 0.05, p99 = 0.8 + 8.91 * 0.05.
    taker_p95, taker_p99 = 0.8 + 8.55 * 0.05, 0.8 + 8.91 * 0.05
    taker_p5, taker_p1 = 0.8 + 0.45 * 0.05, 0.8 + 0.09 * 0.05
    # Bar 19 is before the window (still untightened) and bars 21..22 are armed.
    assert signals["taker_hi_p95"].iloc[19] == pytest.approx(taker_p95)
    assert signals["taker_hi_p95"].iloc[21] == pytest.approx(min(taker_p95 + 0.05, taker_p99))  # capped
    assert signals["taker_lo_p5"].iloc[21] == pytest.approx(max(taker_p5 - 0.05, taker_p1))  # capped
    # OI ROC 1..10: action 9.55 + 0.5 is capped at the extreme 9.91 while armed, ...
    oi_p95 = signals["oi_roc_p95_pct"].to_numpy()
    assert oi_p95[19] == pytest.approx(9.55)
    assert oi_p95[21] == pytest.approx(9.91)
    # ... and decays with the factor once the window is over.
    assert oi_p95[23] == pytest.approx(9.91)
    assert oi_p95[24] == pytest.approx(9.55 + 0.5 * 2 / 3)
    assert oi_p95[25] == pytest.approx(9.55 + 0.5 / 3)
    assert oi_p95[26] == pytest.approx(9.55)
    # The watch and extreme thresholds are never tightened.
    assert signals["oi_roc_p85_pct"].iloc[21] == pytest.approx(8.65)
    assert signals["oi_roc_p99_pct"].iloc[21] == pytest.approx(9.91)


def test_action_trigger_option_arms_on_p95() -> None:
    liq = ramp(12)
    liq[10] = 9.7  # bar 10 sees bars 0..9 = 1..10: above p95 (9.55), not above p99 (9.91)
    bars = make_bars(12, liq_total_usd=liq)
    extreme = run_engine(bars, small_params()).signals
    params = replace(small_params(), tightening=TighteningParams(trigger="action", window_bars=3))
    action = run_engine(bars, params).signals
    assert not extreme["tightening_trigger"].any()
    assert np.flatnonzero(action["tightening_trigger"].to_numpy()).tolist() == [10]
    assert action["tightening_factor"].iloc[11] == 1.0
