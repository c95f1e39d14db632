"""Dynamic tightening: after a large liquidation bar, raise the taker and OI ROC action bars.

A bar whose `liq_total_usd` exceeds the trigger threshold arms tightening from the NEXT bar
for `window_bars` bars (the bar itself was scored before anyone could react). With no
trigger left in the window the adjustment decays linearly over `decay_bars` bars
(3: 2/3, 1/3, then 0). Computed from the bars since the last trigger, so no loop.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.intp]

_NEVER = np.iinfo(np.int64).min // 2  # "no trigger yet": far enough back that the factor is 0


def trigger_flags(liq_total: FloatArray, trigger_threshold: FloatArray) -> BoolArray:
    """Bars whose liquidations exceed the trigger threshold (NaN on either side: no trigger)."""
    return np.asarray(liq_total > trigger_threshold, dtype=np.bool_)


def tightening_factor(
    triggers: BoolArray,
    window_bars: int | IntArray,
    decay_bars: int,
    first_bar: IntArray | None = None,
) -> FloatArray:
    """Share of the adjustment in force at each bar, in [0, 1].

    `since` = bars since the last trigger strictly before the bar: 1..window_bars gives 1,
    then window_bars + k gives 1 - k / decay_bars until it reaches 0. For several coins laid
    end to end, `first_bar` is each bar's coin's first bar (an earlier trigger is another
    coin's) and `window_bars` may be per bar (coins on different grids).
    """
    n = triggers.shape[0]
    idx = np.arange(n, dtype=np.int64)
    last = np.maximum.accumulate(np.where(triggers, idx, _NEVER))
    previous = np.concatenate([[_NEVER], last[:-1]])  # a trigger acts from the next bar
    if first_bar is not None:
        previous[previous < first_bar] = _NEVER
    since = idx - previous
    if decay_bars == 0:
        return (since <= window_bars).astype(np.float64)
    factor = (window_bars + decay_bars - since) / decay_bars
    return np.clip(factor, 0.0, 1.0)


def tighten_upper(p_action: FloatArray, p_extreme: FloatArray, step: float, factor: FloatArray) -> FloatArray:
    """Action threshold in force for a high band: raised by step * factor, at most the extreme one."""
    return np.minimum(p_action + step * factor, p_extreme)


def tighten_lower(p_action: FloatArray, p_extreme: FloatArray, step: float, factor: FloatArray) -> FloatArray:
    """Action threshold in force for a low band: lowered by step * factor, at least the extreme one."""
    return np.maximum(p_action - step * factor, p_extreme)
