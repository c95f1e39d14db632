"""Small hand-built inputs for the engine tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from sniper_pipeline.engine import (
    ConfluenceParams,
    EngineParams,
    EpisodeParams,
    ThresholdParams,
    TighteningParams,
)

NAN = float("nan")
METRICS = ("funding_bps_8h", "oi_roc_pct", "liq_long_usd", "liq_short_usd", "taker_ratio")


def make_bars(
    n: int,
    *,
    coin: str = "BTC",
    interval: str = "4h",
    start: str = "2025-01-01",
    **columns: Any,
) -> pd.DataFrame:
    """A closed-bar frame of the engine's input contract; unspecified metrics are NaN.

    Pass `funding_bps_8h`, `oi_roc_pct`, `liq_long_usd`, `liq_short_usd`, `taker_ratio` (or
    `liq_total_usd` alone, split evenly); the derived columns are computed as dbt does.
    """
    freq = interval.replace("m", "min")
    data: dict[str, object] = {
        "coin": coin,
        "interval": interval,
        "ts": pd.date_range(start, periods=n, freq=freq, tz="UTC"),
        "is_closed": True,
    }
    values = {name: np.broadcast_to(np.asarray(columns.pop(name, NAN), dtype=float), n) for name in METRICS}
    if "liq_total_usd" in columns:
        total = np.broadcast_to(np.asarray(columns.pop("liq_total_usd"), dtype=float), n)
        values["liq_long_usd"] = values["liq_short_usd"] = total / 2
    long_usd, short_usd = values["liq_long_usd"], values["liq_short_usd"]
    total = long_usd + short_usd
    with np.errstate(invalid="ignore", divide="ignore"):
        polarity = np.where(total > 0, (long_usd - short_usd) / total, np.where(total == 0, 0.0, NAN))
    data.update(
        funding_bps_8h=values["funding_bps_8h"],
        funding_abs_bps_8h=np.abs(values["funding_bps_8h"]),
        oi=NAN,
        oi_unit="coin",
        oi_roc_pct=values["oi_roc_pct"],
        liq_long_usd=long_usd,
        liq_short_usd=short_usd,
        liq_total_usd=total,
        liq_polarity=polarity,
        taker_ratio=values["taker_ratio"],
    )
    frame = pd.DataFrame(data)
    for name, value in columns.items():  # anything else, e.g. is_closed or a flag column
        frame[name] = value
    return frame


def small_params(
    lookback: int = 10,
    min_history: int | None = None,
    window_bars: int = 4,
    decay_bars: int = 3,
    **confluence: int | None,
) -> EngineParams:
    """Parameters scaled down for hand-built frames."""
    base = EngineParams()
    return replace(
        base,
        thresholds=ThresholdParams(lookback_bars=lookback, min_history_bars=min_history or lookback),
        tightening=TighteningParams(window_bars=window_bars, decay_bars=decay_bars),
        confluence=ConfluenceParams(**confluence),  # type: ignore[arg-type]
        episodes=EpisodeParams(),
    )


def ramp(n: int, low: float = 1.0, high: float = 10.0) -> np.ndarray:
    """A repeating 1..10 cycle: every window of 10 holds each value once (easy percentiles)."""
    cycle = np.linspace(low, high, 10)
    return np.resize(cycle, n)
