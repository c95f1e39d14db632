"""Reference snapshots (no time series): instruments, funding intervals, per-exchange
liquidations, and the daily Bitcoin ETF flows. A reference endpoint with nothing behind it
(e.g. not recorded) is reported missing and does not fail the run."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from sniper_pipeline.coinglass import endpoints
from sniper_pipeline.coinglass.client import CoinGlassClient
from sniper_pipeline.coinglass.errors import BadRequestError
from sniper_pipeline.settings.coins import CoinsConfig
from sniper_pipeline.settings.timeutil import interval_seconds, utc_now_naive
from sniper_pipeline.warehouse import tables as t
from sniper_pipeline.warehouse.upsert import UpsertStats, frame_records, upsert


@dataclass
class SnapshotIngest:
    written: UpsertStats = field(default_factory=lambda: UpsertStats(0, 0, 0, 0))
    sources: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def as_metadata(self) -> dict[str, Any]:
        return {
            **self.written.as_metadata(),
            "sources": ", ".join(self.sources),
            "missing": ", ".join(self.missing),
        }


def _floor(now: datetime, interval: str) -> datetime:
    """Snapshot time bucket: two runs inside one bucket write the same keys (re-runs add nothing)."""
    step = interval_seconds(interval)
    return datetime.fromtimestamp(int(now.timestamp()) // step * step, UTC).replace(tzinfo=None)


def _combine(parts: Iterable[UpsertStats]) -> UpsertStats:
    parts = list(parts)
    return UpsertStats(*(sum(getattr(p, f) for p in parts) for f in ("rows", "new", "updated", "unchanged")))


def ingest_instruments(
    client: CoinGlassClient, engine: Engine, coin_symbols: Iterable[str]
) -> SnapshotIngest:
    """supported-exchange-pairs (live), else the pairs-markets rows of each coin (recorded)."""
    result = SnapshotIngest()
    seen_day = _floor(client.now(), "1d")
    try:
        frames = [endpoints.supported_exchange_pairs(client).frame]
        result.sources.append("/api/futures/supported-exchange-pairs")
    except BadRequestError:
        result.missing.append("/api/futures/supported-exchange-pairs")
        frames = []
        for symbol in coin_symbols:
            try:
                frames.append(endpoints.pairs_markets(client, symbol).frame)
            except BadRequestError:
                result.missing.append(f"/api/futures/pairs-markets?symbol={symbol}")
                continue
            result.sources.append(f"/api/futures/pairs-markets?symbol={symbol}")
    if frames:
        frame = pd.concat(frames, ignore_index=True).drop_duplicates(
            ["exchange", "instrument_id"], keep="last"
        )
        frame = frame.dropna(subset=["exchange", "instrument_id"])
        frame["first_seen_at"] = seen_day
        frame["last_seen_at"] = seen_day
        result.written = upsert(engine, t.instruments, frame_records(frame, t.instruments))
    return result


def ingest_funding_intervals(client: CoinGlassClient, engine: Engine, coins: CoinsConfig) -> SnapshotIngest:
    """Settlement hours per coin/exchange/margin, stored with the time first seen."""
    result = SnapshotIngest()
    endpoint = "/api/futures/funding-rate/exchange-list"
    try:
        parsed = endpoints.funding_rate_exchange_list(client)
    except BadRequestError:
        result.missing.append(endpoint)
        return result
    result.sources.append(endpoint)
    frame = parsed.frame.dropna(subset=["interval_hours"]).copy()
    frame["coin"] = [coins.resolve(c) or c for c in frame["coin"]]
    frame = frame.drop_duplicates(["coin", "exchange", "margin", "interval_hours"], keep="last")
    frame["first_seen_at"] = _floor(client.now(), "1d")
    result.written = upsert(engine, t.raw_funding_intervals, frame_records(frame, t.raw_funding_intervals))
    return result


def ingest_liquidation_exchanges(
    client: CoinGlassClient, engine: Engine, coin_symbols: dict[str, str], range_: str = "4h"
) -> SnapshotIngest:
    """Per-exchange liquidations of each coin over the last `range_`, one snapshot per range bucket."""
    result = SnapshotIngest()
    captured = _floor(client.now(), range_)
    parts = []
    for coin, symbol in coin_symbols.items():
        try:
            parsed = endpoints.liquidation_exchange_list(client, symbol, range_)
        except BadRequestError:
            result.missing.append(f"/api/futures/liquidation/exchange-list?symbol={symbol}&range={range_}")
            continue
        frame = parsed.frame.dropna(subset=["exchange"]).drop_duplicates("exchange", keep="last")
        frame["coin"], frame["range"], frame["captured_at"] = coin, range_, captured
        parts.append(
            upsert(engine, t.raw_liquidation_exchanges, frame_records(frame, t.raw_liquidation_exchanges))
        )
        result.sources.append(f"/api/futures/liquidation/exchange-list?symbol={symbol}&range={range_}")
    result.written = _combine(parts)
    return result


def ingest_etf_flows(client: CoinGlassClient, engine: Engine) -> SnapshotIngest:
    """Daily Bitcoin ETF flows; an unpublished day (0 and every ticker null) is stored as null."""
    result = SnapshotIngest()
    try:
        parsed = endpoints.etf_bitcoin_flow_history(client)
    except BadRequestError:
        result.missing.append(endpoints.ETF_BITCOIN_FLOW_HISTORY)
        return result
    result.sources.append(endpoints.ETF_BITCOIN_FLOW_HISTORY)
    frame = parsed.frame.copy()
    frame["ingested_at"] = utc_now_naive()
    result.written = upsert(engine, t.raw_etf_flows, frame_records(frame, t.raw_etf_flows))
    return result
