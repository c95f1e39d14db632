"""One layer of one coin: fetch (incremental), parse, validate, upsert in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Table, func, select

from sniper_pipeline.coinglass.client import CoinGlassClient
from sniper_pipeline.coinglass.endpoints import fetch_series
from sniper_pipeline.ingest.sources import ResolvedSource
from sniper_pipeline.settings.layer import Layer
from sniper_pipeline.settings.timeutil import utc_now_naive
from sniper_pipeline.warehouse import tables as t
from sniper_pipeline.warehouse.upsert import UpsertStats, frame_records, upsert, would_change

# The raw table of each layer, by its name in config/layers.yaml (prices: a context layer).
LAYER_TABLES: dict[str, Table] = {
    **{layer.value: t.metadata.tables[layer.raw_table] for layer in Layer},
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
    if source.layer == Layer.FUNDING:
        frame = frame.rename(columns={c: f"{c}_pct" for c in ("open", "high", "low", "close")})
        frame["exchange"] = params.get("exchange")
        frame["symbol"] = params.get("symbol")
    elif source.layer == Layer.OPEN_INTEREST:
        frame["unit"] = params.get("unit", "usd")
    elif source.layer == "price":
        frame = frame.rename(columns={c: f"{c}_usd" for c in ("open", "high", "low", "close")})
    elif source.layer == Layer.TAKER and "value_unit" not in frame:
        frame["value_unit"] = source.value_unit
    return frame


@dataclass(frozen=True)
class LayerFetch:
    """A fetched, parsed frame in the raw table's columns, not yet validated or written."""

    coin: str
    source: ResolvedSource
    requests: int
    rows_received: int
    duplicates_dropped: int
    was_unsorted: bool
    open_bars: int
    frame: pd.DataFrame


def fetch_layer(
    client: CoinGlassClient,
    coin: str,
    source: ResolvedSource,
    since: pd.Timestamp | None,
    *,
    history_days: int,
    overlap_bars: int,
) -> LayerFetch:
    """HTTP only (no warehouse access), so fetches of several coins can run in threads."""
    fetched = fetch_series(
        client,
        source.endpoint,
        source.param_dict,
        since=since.to_pydatetime() if since is not None else None,
        history_days=history_days,
        overlap_bars=overlap_bars,
    )
    parsed = fetched.parsed
    return LayerFetch(
        coin=coin,
        source=source,
        requests=fetched.history.requests,
        rows_received=parsed.rows_received,
        duplicates_dropped=parsed.duplicates_dropped,
        was_unsorted=parsed.was_unsorted,
        open_bars=parsed.open_bars,
        frame=table_frame(coin, source, parsed.frame, utc_now_naive()),
    )


def layer_watermarks(
    engine: Engine, tasks: list[tuple[str, ResolvedSource]]
) -> dict[tuple[str, str], pd.Timestamp | None]:
    """The last closed bar stored per (coin, layer), where the incremental fetch starts: one
    query per raw table."""
    out: dict[tuple[str, str], pd.Timestamp | None] = {(coin, s.layer): None for coin, s in tasks}
    wanted = {(coin, s.source_key, s.interval): (coin, s.layer) for coin, s in tasks}
    with engine.connect() as conn:
        for layer in sorted({s.layer for _, s in tasks}):
            table = LAYER_TABLES[layer]
            rows = conn.execute(
                select(table.c.coin, table.c.source_key, table.c.interval, func.max(table.c.ts))
                .where(table.c.is_closed.is_(True), table.c.coin.in_(sorted({c for c, _ in tasks})))
                .group_by(table.c.coin, table.c.source_key, table.c.interval)
            ).all()
            for coin, source_key, interval, last in rows:
                key = wanted.get((str(coin), str(source_key), str(interval)))
                if key is not None and key[1] == layer and last is not None:
                    out[key] = pd.Timestamp(last, tz="UTC")
    return out


def changes_rows(conn: Connection, fetched: LayerFetch) -> bool:
    """True when storing this frame would insert or update a row (else there is nothing to
    validate or write: every bar is stored as fetched)."""
    table = LAYER_TABLES[fetched.source.layer]
    return would_change(conn, table, frame_records(fetched.frame, table))


def store_layer(
    engine: Engine | Connection,
    fetched: LayerFetch,
    validate: Validator | None = None,
    *,
    unchanged: bool = False,
) -> LayerIngest:
    """Validate (raises: nothing is written), then upsert in one transaction. `unchanged`: the
    caller already found every row stored as fetched (`changes_rows`), so nothing is compared
    or written again."""
    frame, source = fetched.frame, fetched.source
    table = LAYER_TABLES[source.layer]
    if validate is not None:
        validate(frame)
    if unchanged:
        written = UpsertStats(rows=len(frame), new=0, updated=0, unchanged=len(frame))
    else:
        written = upsert(engine, table, frame_records(frame, table))
    return LayerIngest(
        coin=fetched.coin,
        layer=source.layer,
        source_key=source.source_key,
        interval=source.interval,
        requests=fetched.requests,
        rows_received=fetched.rows_received,
        duplicates_dropped=fetched.duplicates_dropped,
        was_unsorted=fetched.was_unsorted,
        open_bars=fetched.open_bars,
        first_bar=frame["ts"].min() if len(frame) else None,
        last_bar=frame["ts"].max() if len(frame) else None,
        written=written,
        frame=frame,
    )
