"""Build `fct_layer_bars`-shaped frames straight from a folder of recorded CoinGlass responses.

A shortcut around the warehouse and dbt for the engine's tests and benchmark: the 4h grid of
the aggregated OI series, the 4h OI-weighted funding (close in PERCENT, treated as per 8h),
the 4h Binance liquidation aggregate and, where recorded, the 4h Binance aggregated taker
volume. Unlike the rest of `replay` (stdlib only) this module needs pandas.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

RECORDED_COINS = ("BTC", "ETH", "SOL", "XRP")  # the coins with every layer recorded at 4h


def _manifest_file(folder: Path, endpoint: str, params: dict[str, str]) -> Path | None:
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["files"]:
        same = entry["endpoint"] == endpoint and all(entry["params"].get(k) == v for k, v in params.items())
        if same and entry.get("rows", 1):
            return folder / entry["file"]
    return None


def _rows(folder: Path, endpoint: str, params: dict[str, str]) -> pd.DataFrame | None:
    path = _manifest_file(folder, endpoint, params)
    if path is None or not path.exists():
        return None
    envelope: dict[str, Any] = json.loads(path.read_text())
    if str(envelope.get("code")) != "0" or not envelope.get("data"):
        return None
    frame = pd.DataFrame(envelope["data"])
    frame["ts"] = pd.to_datetime(frame["time"], unit="ms", utc=True)
    return frame.drop_duplicates("ts", keep="last").set_index("ts").sort_index()


def _numeric(frame: pd.DataFrame | None, column: str, index: pd.DatetimeIndex) -> pd.Series:
    if frame is None:
        return pd.Series(np.nan, index=index)
    return pd.to_numeric(frame[column], errors="coerce").reindex(index)


def build_bars(folder: Path, coin: str, *, pair_taker_fallback: bool = False) -> pd.DataFrame:
    """One coin's closed 4h bars with every metric column of the engine's input contract.

    `pair_taker_fallback` fills taker from the Binance pair series (a unit-free ratio, so the
    base-coin volumes of the older recordings are fine) when no aggregated 4h file exists.
    """
    oi = _rows(folder, "/api/futures/open-interest/aggregated-history", {"symbol": coin, "interval": "4h"})
    if oi is None:
        raise FileNotFoundError(f"no 4h aggregated OI recording for {coin} in {folder}")
    grid = pd.DatetimeIndex(oi.index)
    funding = _rows(folder, "/api/futures/funding-rate/oi-weight-history", {"symbol": coin, "interval": "4h"})
    liq = _rows(
        folder,
        "/api/futures/liquidation/aggregated-history",
        {"symbol": coin, "exchange_list": "Binance", "interval": "4h"},
    )
    taker = _rows(
        folder,
        "/api/futures/aggregated-taker-buy-sell-volume/history",
        {"symbol": coin, "exchange_list": "Binance", "interval": "4h"},
    )
    buy_col, sell_col = "aggregated_buy_volume_usd", "aggregated_sell_volume_usd"
    if taker is None and pair_taker_fallback:
        taker = _rows(
            folder,
            "/api/futures/taker-buy-sell-volume/history",
            {"symbol": f"{coin}USDT", "exchange": "Binance", "interval": "4h"},
        )
        buy_col, sell_col = "taker_buy_volume_usd", "taker_sell_volume_usd"

    oi_close = _numeric(oi, "close", grid)
    funding_bps = _numeric(funding, "close", grid) * 100  # percent per 8h -> bps per 8h
    long_usd = _numeric(liq, "aggregated_long_liquidation_usd", grid)
    short_usd = _numeric(liq, "aggregated_short_liquidation_usd", grid)
    total = long_usd + short_usd
    buy = _numeric(taker, buy_col, grid)
    sell = _numeric(taker, sell_col, grid)
    bars = pd.DataFrame(
        {
            "coin": coin,
            "interval": "4h",
            "ts": grid,
            "is_closed": True,
            "funding_bps_8h": funding_bps.to_numpy(),
            "funding_abs_bps_8h": funding_bps.abs().to_numpy(),
            "oi": oi_close.to_numpy(),
            "oi_unit": "usd",
            "oi_roc_pct": (100 * (oi_close / oi_close.shift(1) - 1)).to_numpy(),
            "liq_long_usd": long_usd.to_numpy(),
            "liq_short_usd": short_usd.to_numpy(),
            "liq_total_usd": total.to_numpy(),
            "liq_polarity": np.where(total > 0, (long_usd - short_usd) / total.where(total > 0), 0.0),
            "taker_ratio": (buy / sell.where(sell > 0)).to_numpy(),
        }
    )
    bars.loc[total.isna().to_numpy(), "liq_polarity"] = np.nan
    return bars
