import numpy as np
import pandas as pd

from sniper_pipeline.evaluation.forward import Horizon, default_horizons, forward_metrics, price_step_seconds

from .helpers import price_bars


def test_forward_return_and_vol_on_known_series():
    close = np.array([100.0, 110.0, 99.0, 99.0, 120.0])
    bars = price_bars(close)
    fwd = forward_metrics(bars, [Horizon("4h", 4 * 3600), Horizon("12h", 12 * 3600)])
    np.testing.assert_allclose(fwd["ret_4h"].to_numpy()[:4], np.diff(np.log(close)))
    assert np.isnan(fwd["ret_4h"].iloc[-1])  # no bar after the last: no horizon, never a shorter one
    logs = np.diff(np.log(close))
    np.testing.assert_allclose(fwd["ret_12h"].iloc[0], np.log(99 / 100))
    np.testing.assert_allclose(fwd["rv_12h"].iloc[0], np.sqrt((logs[:3] ** 2).sum()))
    np.testing.assert_allclose(fwd["absret_12h"].iloc[1], abs(np.log(120 / 110)))
    assert fwd["ret_12h"].iloc[2:].isna().all()


def test_never_reads_past_the_horizon():
    rng = np.random.default_rng(1)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 60)))
    bars = price_bars(close)
    h = [Horizon("12h", 12 * 3600)]
    full = forward_metrics(bars, h)
    # Changing every price after bar 10 + 3 leaves bar 10's score as it was.
    changed = bars.copy()
    changed.loc[14:, "close_usd"] *= 5
    again = forward_metrics(changed, h)
    assert again["ret_12h"].iloc[10] == full["ret_12h"].iloc[10]
    assert again["rv_12h"].iloc[10] == full["rv_12h"].iloc[10]


def test_daily_price_on_4h_bars_enters_at_the_next_daily_close():
    days = np.array([100.0, 110.0, 121.0, 100.0, 90.0])
    # As the mart joins it: each 4h bar carries the last daily close at or before its close.
    ts = pd.date_range("2025-01-01", periods=6 * len(days), freq="4h", tz="UTC")
    close_at = ts + pd.Timedelta("4h")
    day_index = (
        np.searchsorted(
            pd.date_range("2025-01-02", periods=len(days), freq="1D", tz="UTC"), close_at, "right"
        )
        - 1
    )
    price = np.where(day_index >= 0, days[np.clip(day_index, 0, None)], np.nan)
    bars = price_bars(price)
    bars["close_usd"] = price
    assert price_step_seconds(bars) == 86400
    assert [h.label for h in default_horizons(bars)] == ["1d", "3d"]
    fwd = forward_metrics(bars, default_horizons(bars))
    # Bar 7 closes 2025-01-02 08:00: the entry is the close of 2025-01-03 00:00 (110), not the
    # stale 100 of 2025-01-02 00:00; the exit is one day later (121).
    np.testing.assert_allclose(fwd["ret_1d"].iloc[7], np.log(121 / 110))
    stale = forward_metrics(bars, default_horizons(bars), entry="asof")
    np.testing.assert_allclose(stale["ret_1d"].iloc[7], np.log(110 / 100))
    # Bar 5 closes exactly at the daily close: both entries agree.
    assert fwd["ret_1d"].iloc[5] == stale["ret_1d"].iloc[5]
