"""History paging: `limit` <= 1000 and `end_time` windows walking backwards from now.

A first backfill of N bars costs ceil(N / 1000) requests; an incremental scan (from the
last stored closed bar minus `overlap_bars`) costs one. Each page asks for no more bars
than are still missing, and the walk stops as soon as a page reaches the start, returns
fewer rows than asked (no older history), or returns nothing.

The window arithmetic is pure (`history_start`, `bars_between`, `next_page_limit`,
`requests_needed`) so it is tested without a server.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sniper_pipeline.coinglass.clock import interval_seconds
from sniper_pipeline.coinglass.errors import InvalidParameterError, SchemaDriftError
from sniper_pipeline.coinglass.parsing import BadValueError
from sniper_pipeline.coinglass.parsing import to_epoch_ms as row_ms
from sniper_pipeline.settings.timeutil import to_epoch_ms, to_utc

MAX_LIMIT = 1000


class _Getter(Protocol):
    def get(self, endpoint: str, params: Mapping[str, Any] | None = None) -> Any: ...


@dataclass(frozen=True)
class PageWindow:
    """One request of a walk: what was asked and what came back."""

    end_time_ms: int
    limit: int
    rows: int
    first_ms: int | None
    last_ms: int | None


@dataclass
class HistoryResult:
    rows: list[dict[str, Any]]  # ascending by time as served, filtered to time >= start
    requests: int
    start: datetime
    end: datetime
    bars_expected: int
    stop_reason: str  # "reached_start" | "short_page" | "empty_page" | "max_requests"
    pages: list[PageWindow] = field(default_factory=list)

    @property
    def reached_start(self) -> bool:
        return self.stop_reason == "reached_start"


def requests_needed(bars: int, limit: int = MAX_LIMIT) -> int:
    """ceil(bars / limit): the cost of fetching `bars` contiguous bars."""
    return max(1, math.ceil(bars / limit)) if bars > 0 else 0


def history_start(
    now: datetime,
    since: datetime | None,
    interval: str,
    *,
    history_days: float,
    overlap_bars: int,
) -> datetime:
    """Earliest bar open to fetch.

    Backfill (since None): now - history_days. Incremental: since - overlap_bars bars, but
    never earlier than the backfill horizon, so a long-stale store costs a bounded walk.
    """
    horizon = to_utc(now) - timedelta(days=history_days)
    if since is None:
        return horizon
    if overlap_bars < 0:
        raise ValueError("overlap_bars must be >= 0")
    start = to_utc(since) - timedelta(seconds=interval_seconds(interval) * overlap_bars)
    return max(start, horizon)


def bars_between(start_ms: int, end_ms: int, interval_ms: int) -> int:
    """Upper bound of bars whose open time lies in [start_ms, end_ms]."""
    if end_ms < start_ms:
        return 0
    return (end_ms - start_ms) // interval_ms + 1


def next_page_limit(start_ms: int, end_ms: int, interval_ms: int, limit: int = MAX_LIMIT) -> int:
    """Bars to ask for in the window ending at end_ms: what is still missing, at most `limit`."""
    return max(1, min(limit, bars_between(start_ms, end_ms, interval_ms)))


def _row_time(row: Any, time_field: str, endpoint: str) -> int:
    try:
        if not isinstance(row, dict) or time_field not in row:
            raise BadValueError(row)
        return row_ms(row[time_field])
    except BadValueError:
        seen = sorted(row.keys()) if isinstance(row, dict) else []
        raise SchemaDriftError(
            f"schema drift: a row has no usable {time_field!r} to page on; fields seen: {seen}",
            endpoint=endpoint,
        ) from None


def fetch_history(
    client: _Getter,
    endpoint: str,
    params: Mapping[str, Any],
    interval: str,
    since: datetime | None,
    *,
    history_days: float,
    overlap_bars: int = 2,
    now: datetime,
    limit: int = MAX_LIMIT,
    time_field: str = "time",
    max_requests: int | None = None,
) -> HistoryResult:
    """Walk `end_time` windows back from `now` until `since - overlap` (or the history start)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidParameterError(
            f"limit {limit} outside 1..{MAX_LIMIT}",
            endpoint=endpoint,
            params=params,
            remedy="use limit <= 1000",
        )
    paging = {"limit", "start_time", "end_time"} & set(params)
    if paging:
        raise InvalidParameterError(
            f"paging params {sorted(paging)} are set by fetch_history",
            endpoint=endpoint,
            params=params,
            remedy="pass only the series' own params",
        )
    step_ms = interval_seconds(interval) * 1000
    start = history_start(now, since, interval, history_days=history_days, overlap_bars=overlap_bars)
    start_ms, now_ms = to_epoch_ms(start), to_epoch_ms(now)
    expected = bars_between(start_ms, now_ms, step_ms)
    pages: list[list[dict[str, Any]]] = []
    windows: list[PageWindow] = []
    end_ms = now_ms
    reason = "empty_page"
    while True:
        ask = next_page_limit(start_ms, end_ms, step_ms, limit)
        data = client.get(endpoint, {**params, "end_time": end_ms, "limit": ask})
        if not isinstance(data, list):
            raise SchemaDriftError(
                f"schema drift: expected a list of rows, got {type(data).__name__}",
                endpoint=endpoint,
                params=params,
            )
        times = [_row_time(row, time_field, endpoint) for row in data]
        windows.append(
            PageWindow(end_ms, ask, len(data), min(times) if times else None, max(times) if times else None)
        )
        pages.append([row for row, t in zip(data, times, strict=True) if start_ms <= t <= end_ms])
        if not data:
            reason = "empty_page"
            break
        oldest = min(times)
        if oldest <= start_ms:
            reason = "reached_start"
            break
        if len(data) < ask:
            reason = "short_page"
            break
        if max_requests is not None and len(windows) >= max_requests:
            reason = "max_requests"
            break
        end_ms = oldest - 1
    rows = [row for page in reversed(pages) for row in page]
    return HistoryResult(
        rows=rows,
        requests=len(windows),
        start=start,
        end=to_utc(now),
        bars_expected=expected,
        stop_reason=reason,
        pages=windows,
    )
