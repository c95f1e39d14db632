"""Hand-built price series and events with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd


def price_bars(
    close: np.ndarray, *, interval: str = "4h", start: str = "2025-01-01", coin: str = "BTC"
) -> pd.DataFrame:
    ts = pd.date_range(start, periods=len(close), freq=interval, tz="UTC")
    return pd.DataFrame(
        {
            "coin": coin,
            "interval": interval,
            "ts": ts,
            "close_at": ts + pd.Timedelta(interval),
            "is_closed": True,
            "close_usd": np.asarray(close, dtype=float),
        }
    )


def events_at(
    bars: pd.DataFrame, positions: list[int], directions: list[str], tier: str = "action"
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "coin": bars["coin"].iloc[0],
            "event": "open",
            "tier": tier,
            "direction": directions,
            "ts": bars["ts"].iloc[positions].to_numpy(),
        }
    )
