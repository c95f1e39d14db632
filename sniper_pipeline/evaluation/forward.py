"""Forward absolute returns and realised volatility per bar, over fixed horizons.

The bars carry `close_usd` as of each bar's close: from a 4h price series it changes every
bar, from a daily series it changes once a day and repeats in between (the mart joins the
coarser series as of close). Both are read the same way here: the price at time T is the
`close_usd` of the last bar closing at or before T.

Entry (choice): a horizon starts at the first price observation at or after the bar's close,
not at the last one before it. With daily prices and 4h bars, the last daily close can be 20h
older than the alert, and the move in between (which the alert's own taker flow and
liquidations describe) would count as "forward": on the recordings that stale entry lifts the
1d hit rate of ETH alerts from about 0.5 to 0.74. At bar resolution both entries are the bar's
own close. The exit is the price observed exactly one horizon after the entry; nothing after
it is read, and a bar whose horizon reaches past the last closed bar gets NaN (never a
shorter horizon). `entry="asof"` keeps the stale entry, for that comparison only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sniper_pipeline.settings.timeutil import interval_seconds

FloatArray = NDArray[np.float64]

BAR_STEPS = (1, 3, 6)  # horizons in bars when the price is at bar resolution
COARSE_STEPS = (1, 3)  # horizons in price steps (1 and 3 days) when only a coarser series exists


@dataclass(frozen=True)
class Horizon:
    label: str  # "4h", "12h", "1d", "3d"
    seconds: int

    def bars(self, bar_interval: str) -> int:
        """The horizon in bars of the grid (the block length of the bootstrap)."""
        return max(1, self.seconds // interval_seconds(bar_interval))


def duration_label(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m"


def _close_times(bars: pd.DataFrame) -> pd.DatetimeIndex:
    ts = pd.DatetimeIndex(pd.to_datetime(bars["ts"], utc=True))
    if "close_at" in bars.columns and bars["close_at"].notna().all():
        return pd.DatetimeIndex(pd.to_datetime(bars["close_at"], utc=True))
    return ts + pd.Timedelta(seconds=interval_seconds(str(bars["interval"].iloc[0])))


def price_step_seconds(bars: pd.DataFrame) -> int:
    """The interval of the price series behind `close_usd`, inferred from when it changes.

    The most common gap between changes, never finer than the bar grid: 14400 for a 4h
    series on 4h bars, 86400 for a daily series joined onto 4h bars. A flat stretch now and
    then does not move the mode.
    """
    bar_seconds = interval_seconds(str(bars["interval"].iloc[0]))
    price = bars["close_usd"].to_numpy(dtype=float)
    valid = np.isfinite(price)
    closes = _close_times(bars)[valid]
    price = price[valid]
    if len(price) < 3:
        return bar_seconds
    changed = np.flatnonzero(np.diff(price) != 0) + 1
    if len(changed) < 2:
        return bar_seconds
    gaps = np.diff(closes[changed].asi8) // 10**9
    values, counts = np.unique(gaps, return_counts=True)
    return max(bar_seconds, int(values[np.argmax(counts)]))


def default_horizons(bars: pd.DataFrame) -> tuple[Horizon, ...]:
    """1, 3 and 6 bars when the price is at bar resolution, else 1 and 3 price steps."""
    bar_seconds = interval_seconds(str(bars["interval"].iloc[0]))
    step = price_step_seconds(bars)
    steps = BAR_STEPS if step <= bar_seconds else COARSE_STEPS
    return tuple(Horizon(duration_label(k * step), k * step) for k in steps)


def forward_metrics(
    bars: pd.DataFrame, horizons: Sequence[Horizon], *, entry: Literal["next", "asof"] = "next"
) -> pd.DataFrame:
    """Per closed bar: `ret_<h>` (signed log return), `absret_<h>`, `rv_<h>` (realised vol:
    root of the summed squared log returns of the steps inside the horizon).

    Index aligned with `bars` sorted by `ts`; columns `ts`, `close_at` plus three per horizon.
    """
    frame = bars.sort_values("ts").reset_index(drop=True)
    if "is_closed" in frame.columns:
        frame = frame[frame["is_closed"].fillna(False).astype(bool)].reset_index(drop=True)
    closes = _close_times(frame)
    close_ns = closes.asi8
    # As-of price: the last known close, carried over missing bars (known at that time).
    price = pd.Series(frame["close_usd"].to_numpy(dtype=float)).where(lambda s: s > 0).ffill().to_numpy()
    log_price = np.log(price)
    step_sq = np.square(np.diff(log_price, prepend=np.nan))
    step_sq[~np.isfinite(step_sq)] = 0.0  # a missing step adds no variance; its return is NaN anyway
    cum_sq = np.cumsum(step_sq)
    out: dict[str, object] = {
        "ts": pd.DatetimeIndex(pd.to_datetime(frame["ts"], utc=True)),
        "close_at": closes,
    }
    n = len(frame)
    start = np.arange(n)
    if entry == "next" and n:
        # Price observations close on the price series' own grid (epoch-aligned, as CoinGlass
        # bars are): the entry is the first such bar at or after bar t.
        step_ns = price_step_seconds(frame) * 10**9
        observed = np.flatnonzero(close_ns % step_ns == 0)
        k = np.searchsorted(observed, start)
        start = np.where(k < len(observed), observed[np.minimum(k, len(observed) - 1)], n)
    has_entry = start < n
    entry_pos = np.where(has_entry, start, 0)
    entry_ns = close_ns[entry_pos] if n else close_ns
    for horizon in horizons:
        target = entry_ns + horizon.seconds * 10**9
        j = np.searchsorted(close_ns, target, side="right") - 1
        # Only an exact bar at close + horizon scores the bar: a gap or the end of the data
        # would otherwise give a shorter (or stale) horizon.
        ok = has_entry & (j >= 0) & (j < n)
        ok[ok] &= close_ns[j[ok]] == target[ok]
        jj = np.where(ok, j, 0)
        ret = np.where(ok, log_price[jj] - log_price[entry_pos], np.nan)
        rv = np.where(ok, np.sqrt(np.maximum(cum_sq[jj] - cum_sq[entry_pos], 0.0)), np.nan)
        rv[~np.isfinite(ret)] = np.nan
        out[f"ret_{horizon.label}"] = ret
        out[f"absret_{horizon.label}"] = np.abs(ret)
        out[f"rv_{horizon.label}"] = rv
    return pd.DataFrame(out)
