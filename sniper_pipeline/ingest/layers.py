"""One layer of one coin: fetch (incremental), parse, validate, upsert in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, Table

from sniper_pipeline.coinglass.client import CoinGlassClient
from sniper_pipeline.coinglass.endpoints import fetch_series
from sniper_pipeline.sources import ResolvedSource
from sniper_pipeline.warehouse import tables as t
from sniper_pipeline.warehouse.upsert import UpsertStats, frame_records, max_closed_ts, upsert

LAYER_TABLES: dict[str, Table] = {
    "funding": t.raw_funding,
    "open_interest": t.raw_open_interest,
    "liquidation": t.raw_liquidations,
    "taker": t.raw_taker_volume,
    "price": t.raw_prices,
}

Validator = Callable[[pd.DataFrame], None]


@dataclass(frozen=True)
class LayerIngest:
    coin: str
    layer: str
    source_key: str
    interval: str
    requests: int
    rows_received: int
    duplicates_dropped: int
    was_unsorted: bool
    open_bars: int
    first_bar: pd.Timestamp | None
    last_bar: pd.Timestamp | None
    written: UpsertStats
    frame: pd.DataFrame

    def as_metadata(self) -> dict[str, Any]:
        return {
            "coin": self.coin,
            "source": self.source_key,
            "interval": self.interval,
            "requests": self.requests,
            "rows_fetched": self.rows_received,
            "duplicates_dropped": self.duplicates_dropped,
            "was_unsorted": self.was_unsorted,
            "open_bars": self.open_bars,
            "first_bar": self.first_bar.isoformat() if self.first_bar is not None else "",
            "last_bar": self.last_bar.isoformat() if self.last_bar is not None else "",
            **self.written.as_metadata(),
        }


def table_frame(
    coin: str, source: ResolvedSource, parsed: pd.DataFrame, ingested_at: datetime
) -> pd.DataFrame:
    """Parsed bars -> the raw table's columns (names carry units)."""
    frame = parsed.copy()
    frame.insert(0, "coin", coin)
    frame.insert(1, "source_key", source.source_key)
    frame.insert(2, "interval", source.interval)
    frame["ingested_at"] = ingested_at
    params = source.param_dict
    if source.layer == "funding":
        frame = frame.rename(columns={c: f"{c}_pct" for c in ("open", "high", "low", "close")})
        frame["exchange"] = params.get("exchange")
        frame["symbol"] = params.get("symbol")
    elif source.layer == "open_interest":
        frame["unit"] = params.get("unit", "usd")
    elif source.layer == "price":
        frame = frame.rename(columns={c: f"{c}_usd" for c in ("open", "high", "low", "close")})
    elif source.layer == "taker" and "value_unit" not in frame:
        frame["value_unit"] = source.value_unit
    return frame


def ingest_layer(
    client: CoinGlassClient,
    engine: Engine,
    coin: str,
    source: ResolvedSource,
    *,
    history_days: int,
    overlap_bars: int,
    validate: Validator | None = None,
) -> LayerIngest:
    table = LAYER_TABLES[source.layer]
    last = max_closed_ts(engine, table, coin=coin, source_key=source.source_key, interval=source.interval)
    fetched = fetch_series(
        client,
        source.endpoint,
        source.param_dict,
        since=last.to_pydatetime() if last is not None else None,
        history_days=history_days,
        overlap_bars=overlap_bars,
    )
    parsed, history = fetched.parsed, fetched.history
    frame = table_frame(coin, source, parsed.frame, datetime.now(UTC).replace(tzinfo=None))
    if validate is not None:
        validate(frame)  # raises: nothing is written
    written = upsert(engine, table, frame_records(frame, table))
    return LayerIngest(
        coin=coin,
        layer=source.layer,
        source_key=source.source_key,
        interval=source.interval,
        requests=history.requests,
        rows_received=parsed.rows_received,
        duplicates_dropped=parsed.duplicates_dropped,
        was_unsorted=parsed.was_unsorted,
        open_bars=parsed.open_bars,
        first_bar=frame["ts"].min() if len(frame) else None,
        last_bar=frame["ts"].max() if len(frame) else None,
        written=written,
        frame=frame,
    )
