"""Percentile config: the thresholds as of the last closed bar, for the next bar.

Unlike the per-bar thresholds (window = the bars before t), the snapshot's window is the
last `lookback_bars` closed bars INCLUDING the last one: it is what the next bar will be
compared with (before any tightening).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from .bars import closed_bars
from .metrics import THRESHOLD_SPECS, metric_values
from .params import EngineParams, SanityParams
from .thresholds import window_percentiles


def _optional_float(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def percentile_config(bars: pd.DataFrame, params: EngineParams | None = None) -> list[dict[str, Any]]:
    """One dict per (metric, band): the watch/action/extreme percentile values with context.

    Keys: coin, interval, metric, unit, band, p_watch, p_action, p_extreme (None when the
    window holds fewer than `min_history_bars` valid values), percentiles, lookback_bars,
    n_bars (valid values in the window), oi_unit, data_from, data_through (first and last
    bar of the window).
    """
    tp = (params or EngineParams()).thresholds
    frame = closed_bars(bars)
    if frame.empty:
        return []
    window = frame.iloc[-tp.lookback_bars :]
    ts = pd.DatetimeIndex(window["ts"]).tz_convert("UTC")
    oi_units = window["oi_unit"].dropna() if "oi_unit" in window.columns else pd.Series(dtype=object)
    context = {
        "coin": str(window["coin"].iloc[-1]) if "coin" in window.columns else None,
        "interval": str(window["interval"].iloc[-1]) if "interval" in window.columns else None,
        "lookback_bars": tp.lookback_bars,
        "oi_unit": str(oi_units.iloc[-1]) if len(oi_units) else None,
        "data_from": ts[0],
        "data_through": ts[-1],
    }
    rows = []
    for spec in THRESHOLD_SPECS:
        values = metric_values(window, spec)
        percentiles = spec.percentiles(tp)
        p_watch, p_action, p_extreme = window_percentiles(values, percentiles, tp.min_history_bars)
        rows.append(
            {
                "metric": spec.metric,
                "unit": spec.unit,
                "band": spec.band,
                "p_watch": _optional_float(p_watch),
                "p_action": _optional_float(p_action),
                "p_extreme": _optional_float(p_extreme),
                "percentiles": list(percentiles),
                "n_bars": int(pd.notna(values).sum()),
                **context,
            }
        )
    return rows


def config_sanity(rows: list[dict[str, Any]], limits: SanityParams | None = None) -> list[str]:
    """Problems found in percentile-config rows; an empty list means sane.

    Ordering is checked non-strictly (ties are normal: many funding series sit on 1 bp).
    """
    limits = limits or SanityParams()
    problems: list[str] = []
    for row in rows:
        name = f"{row.get('coin')} {row['metric']}"
        watch, action, extreme = row["p_watch"], row["p_action"], row["p_extreme"]
        if row["n_bars"] < row["lookback_bars"]:
            problems.append(
                f"{name}: only {row['n_bars']} bars with a value, lookback is {row['lookback_bars']}"
            )
        if watch is None or action is None or extreme is None:
            problems.append(f"{name}: no thresholds (too little history)")
            continue
        ordered = watch <= action <= extreme if row["band"] == "high" else watch >= action >= extreme
        if not ordered:
            sign = "<=" if row["band"] == "high" else ">="
            problems.append(
                f"{name}: thresholds not ordered (watch {sign} action {sign} extreme): "
                f"{watch}, {action}, {extreme}"
            )
        if row["unit"] == "bps_8h" and extreme > limits.max_funding_p99_bps_8h:
            problems.append(f"{name}: extreme {extreme:.1f} bps/8h above {limits.max_funding_p99_bps_8h:g}")
        if row["unit"] == "ratio":
            low, high = limits.taker_ratio_min, limits.taker_ratio_max
            outside = [v for v in (watch, action, extreme) if not low <= v <= high]
            if outside:
                problems.append(
                    f"{name}: taker ratio thresholds {outside} outside "
                    f"{limits.taker_ratio_min:g}..{limits.taker_ratio_max:g}"
                )
    return problems
