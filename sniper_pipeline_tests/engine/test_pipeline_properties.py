"""Properties of run_engine on random frames: no look-ahead, monotone levels, determinism."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sniper_pipeline.engine import EngineParams, ThresholdParams, TighteningParams, run_engine

from .helpers import make_bars

NAN = float("nan")
PARAMS = replace(
    EngineParams(),
    thresholds=ThresholdParams(lookback_bars=8, min_history_bars=5),
    tightening=TighteningParams(window_bars=4, decay_bars=2),
)
# Few distinct values: ties, spikes and gaps are all common.
VALUES = {
    "funding_bps_8h": [NAN, -3.0, 0.5, 1.0, 1.0, 1.0, 2.0, 8.0],
    "oi_roc_pct": [NAN, -6.0, -1.0, 0.0, 0.3, 1.0, 1.0, 4.0],
    "liq_long_usd": [NAN, 0.0, 1.0, 1.0, 2.0, 10.0, 80.0],
    "liq_short_usd": [NAN, 0.0, 1.0, 1.0, 3.0, 50.0],
    "taker_ratio": [NAN, 0.6, 0.9, 1.0, 1.0, 1.05, 1.1, 1.6],
}
SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def columns(draw: st.DrawFn, n: int) -> dict[str, Any]:
    return {
        name: draw(st.lists(st.sampled_from(choices), min_size=n, max_size=n))
        for name, choices in VALUES.items()
    }


@st.composite
def frames(draw: st.DrawFn) -> tuple[pd.DataFrame, int, dict[str, Any]]:
    """A frame, a cut bar t and replacement values for the bars after t."""
    n = draw(st.integers(min_value=12, max_value=48))
    t = draw(st.integers(min_value=0, max_value=n - 2))
    return make_bars(n, **draw(columns(n))), t, draw(columns(n - t - 1))


@SETTINGS
@given(frames())
def test_no_look_ahead(case: tuple[pd.DataFrame, int, dict[str, Any]]) -> None:
    bars, t, tail = case
    changed_values: dict[str, Any] = {name: [*bars[name].tolist()[: t + 1], *tail[name]] for name in VALUES}
    changed = make_bars(len(bars), **changed_values)
    a, b = run_engine(bars, PARAMS), run_engine(changed, PARAMS)
    pd.testing.assert_frame_equal(a.signals.iloc[: t + 1], b.signals.iloc[: t + 1])
    cutoff = bars["ts"].iloc[t]
    pd.testing.assert_frame_equal(
        a.events[a.events["ts"] <= cutoff].reset_index(drop=True),
        b.events[b.events["ts"] <= cutoff].reset_index(drop=True),
    )


@SETTINGS
@given(
    frames(),
    st.sampled_from(["funding", "oi", "liq", "taker"]),
    st.floats(min_value=0.01, max_value=100.0),
)
def test_moving_away_from_the_median_never_lowers_the_level(
    case: tuple[pd.DataFrame, int, dict[str, Any]], layer: str, step: float
) -> None:
    bars, t, _ = case
    values: dict[str, Any] = {name: bars[name].tolist() for name in VALUES}
    lookback = PARAMS.thresholds.lookback_bars
    if layer == "funding":
        x = np.nan_to_num(values["funding_bps_8h"][t])
        values["funding_bps_8h"][t] = abs(x) + step  # a larger magnitude
    elif layer == "oi":
        x = np.nan_to_num(values["oi_roc_pct"][t])
        values["oi_roc_pct"][t] = x - step if x < 0 else x + step  # same sign, larger magnitude
    elif layer == "liq":
        values["liq_long_usd"][t] = np.nan_to_num(values["liq_long_usd"][t]) + step
        values["liq_short_usd"][t] = np.nan_to_num(values["liq_short_usd"][t])
    else:
        window = np.array(values["taker_ratio"][max(0, t - lookback) : t])
        median = np.nanmedian(window) if np.isfinite(window).any() else 1.0
        x = values["taker_ratio"][t]
        x = median if np.isnan(x) else x
        values["taker_ratio"][t] = x * (1 + step) if x >= median else x / (1 + step)
    before = run_engine(bars, PARAMS).signals
    after = run_engine(make_bars(len(bars), **values), PARAMS).signals
    # Tightening at t depends on the bars before t only: it is the same in both runs.
    assert before["tightening_factor"].iloc[t] == after["tightening_factor"].iloc[t]
    assert after[f"{layer}_level"].iloc[t] >= before[f"{layer}_level"].iloc[t]


@SETTINGS
@given(frames())
def test_deterministic(case: tuple[pd.DataFrame, int, dict[str, Any]]) -> None:
    bars, _, _ = case
    a, b = run_engine(bars, PARAMS), run_engine(bars.iloc[::-1].copy(), PARAMS)
    pd.testing.assert_frame_equal(a.signals, b.signals)
    pd.testing.assert_frame_equal(a.events, b.events)
    assert a.state == b.state


@SETTINGS
@given(frames())
def test_resume_at_any_bar_equals_one_run(case: tuple[pd.DataFrame, int, dict[str, Any]]) -> None:
    bars, t, _ = case
    whole = run_engine(bars, PARAMS)
    first = run_engine(bars.iloc[: t + 1], PARAMS)
    rest = run_engine(bars, PARAMS, first.state)
    pd.testing.assert_frame_equal(pd.concat([first.signals, rest.signals], ignore_index=True), whole.signals)
    pd.testing.assert_frame_equal(pd.concat([first.events, rest.events], ignore_index=True), whole.events)
    assert rest.state == whole.state
