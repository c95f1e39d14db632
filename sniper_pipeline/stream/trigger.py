"""When the stream asks for an immediate scan: a coin's streamed liquidations in the current bar
pass its action threshold. Pure (no Dagster, no I/O but the `totals` callable), so
`liquidation_stream_sensor` is a thin wrapper.

Per coin with a grid interval and a threshold for that same interval, the current bar is the one
containing `now`; its streamed long + short USD must be strictly above `liq_total_action_usd`
(design.md section 4: comparisons are strict). At most one request per coin and bar: the cursor
remembers the bar last requested per coin, and the run key `stream|{coin}|{bar_open}` lets
Dagster drop a repeat even with a lost cursor.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sniper_pipeline.coinglass.clock import floor_to_interval, interval_timedelta
from sniper_pipeline.stream.thresholds import CoinThreshold

BarTotals = Callable[[str, datetime, datetime], tuple[float, float]]  # coin, open, close -> long, short


@dataclass(frozen=True)
class StreamScanRequest:
    coin: str
    bar_open: datetime
    long_usd: float
    short_usd: float
    threshold_usd: float

    @property
    def total_usd(self) -> float:
        return self.long_usd + self.short_usd

    @property
    def run_key(self) -> str:
        return f"stream|{self.coin}|{self.bar_open.isoformat()}"


@dataclass
class StreamDecision:
    requests: list[StreamScanRequest]
    cursor: str
    notes: list[str]  # why coins were skipped, for the sensor's log


def _load_cursor(cursor: str | None) -> dict[str, str]:
    if not cursor:
        return {}
    try:
        value = json.loads(cursor)
    except json.JSONDecodeError:
        return {}  # a cursor from another sensor version: start over, run keys still dedup
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def stream_scans(
    cursor: str | None,
    now: datetime,
    grids: Mapping[str, str],
    thresholds: Mapping[str, CoinThreshold],
    totals: BarTotals,
) -> StreamDecision:
    """`grids`: coin -> grid interval; `thresholds`: coin -> action threshold and its interval."""
    seen = _load_cursor(cursor)
    requests: list[StreamScanRequest] = []
    notes: list[str] = []
    new_cursor: dict[str, str] = {}
    for coin, interval in sorted(grids.items()):
        if coin in seen:
            new_cursor[coin] = seen[coin]
        threshold = thresholds.get(coin)
        if threshold is None:
            continue
        if threshold.interval != interval:
            # A per-bar total only compares with a threshold of bars of the same length.
            notes.append(f"{coin}: threshold is per {threshold.interval} bar, grid is {interval}: skipped")
            continue
        bar_open = floor_to_interval(now, interval)
        if seen.get(coin) == bar_open.isoformat():
            continue  # already requested for this bar
        long_usd, short_usd = totals(coin, bar_open, bar_open + interval_timedelta(interval))
        if long_usd + short_usd > threshold.liq_total_action_usd:
            requests.append(
                StreamScanRequest(coin, bar_open, long_usd, short_usd, threshold.liq_total_action_usd)
            )
            new_cursor[coin] = bar_open.isoformat()
    return StreamDecision(requests, json.dumps(new_cursor, sort_keys=True), notes)
