"""Paging arithmetic and the end_time walk, against an in-memory series with v4 paging semantics."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sniper_pipeline.coinglass.errors import InvalidParameterError, SchemaDriftError
from sniper_pipeline.coinglass.paging import (
    bars_between,
    fetch_history,
    history_start,
    next_page_limit,
    requests_needed,
)

H4_MS = 4 * 3600 * 1000
NOW = datetime(2025, 5, 21, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
EP = "/api/futures/open-interest/aggregated-history"


class SeriesServer:
    """Answers GETs like the v4 API: latest `limit` rows at or before end_time, ascending."""

    def __init__(self, times: list[int]) -> None:
        self.rows = [{"time": t, "close": i} for i, t in enumerate(sorted(times))]
        self.calls: list[dict[str, Any]] = []

    def get(self, endpoint: str, params: Mapping[str, Any] | None = None) -> Any:
        p = dict(params or {})
        self.calls.append(p)
        assert 1 <= p["limit"] <= 1000
        eligible = [r for r in self.rows if r["time"] <= p["end_time"]]
        return eligible[-p["limit"] :]


def series(n_bars: int, last_open_ms: int = NOW_MS - H4_MS) -> SeriesServer:
    """n_bars contiguous 4h bars, the latest opening at last_open_ms (closed at NOW)."""
    return SeriesServer([last_open_ms - i * H4_MS for i in range(n_bars)])


def test_requests_needed_is_ceil_of_bars_over_1000() -> None:
    assert [requests_needed(n) for n in (0, 1, 999, 1000, 1001, 2000, 2001)] == [0, 1, 1, 1, 2, 2, 3]


def test_bars_between_and_next_page_limit() -> None:
    assert bars_between(0, 0, H4_MS) == 1
    assert bars_between(0, H4_MS * 10, H4_MS) == 11
    assert bars_between(0, H4_MS * 10 - 1, H4_MS) == 10
    assert bars_between(5, 4, H4_MS) == 0
    assert next_page_limit(0, H4_MS * 5000, H4_MS) == 1000
    assert next_page_limit(0, H4_MS * 5, H4_MS) == 6
    assert next_page_limit(10, 5, H4_MS) == 1


def test_history_start_backfill_and_incremental() -> None:
    assert history_start(NOW, None, "4h", history_days=30, overlap_bars=2) == NOW - timedelta(days=30)
    since = datetime(2025, 5, 20, 12, tzinfo=UTC)
    assert history_start(NOW, since, "4h", history_days=30, overlap_bars=2) == since - timedelta(hours=8)
    old = datetime(2024, 1, 1, tzinfo=UTC)
    assert history_start(NOW, old, "4h", history_days=30, overlap_bars=2) == NOW - timedelta(days=30)
    with pytest.raises(ValueError):
        history_start(NOW, since, "4h", history_days=30, overlap_bars=-1)


@pytest.mark.parametrize("n_bars", [1, 999, 1000, 1001, 1080, 2500])
def test_backfill_of_n_bars_costs_ceil_n_over_1000(n_bars: int) -> None:
    server = series(n_bars)
    # history reaching exactly back to the first bar's open
    days = n_bars * 4 / 24
    result = fetch_history(server, EP, {"symbol": "BTC"}, "4h", None, history_days=days, now=NOW)
    assert result.requests == requests_needed(n_bars) == len(server.calls)
    assert len(result.rows) == n_bars
    times = [r["time"] for r in result.rows]
    assert times == sorted(times) and len(set(times)) == n_bars
    assert result.reached_start


def test_backfill_beyond_available_history_stops_on_a_short_page() -> None:
    server = series(1080)  # like the shipped 4h recordings
    result = fetch_history(server, EP, {"symbol": "BTC"}, "4h", None, history_days=365, now=NOW)
    assert result.requests == 2 and result.stop_reason == "short_page"
    assert [c["limit"] for c in server.calls] == [1000, 1000]
    assert server.calls[0]["end_time"] == NOW_MS
    assert server.calls[1]["end_time"] == result.pages[0].first_ms - 1  # type: ignore[operator]
    assert len(result.rows) == 1080


def test_incremental_scan_is_one_request_with_the_overlap() -> None:
    server = series(1080)
    last_stored = datetime.fromtimestamp((NOW_MS - 2 * H4_MS) / 1000, UTC)  # one new bar since
    result = fetch_history(
        server, EP, {"symbol": "BTC"}, "4h", last_stored, history_days=365, overlap_bars=2, now=NOW
    )
    assert result.requests == 1 and result.reached_start
    assert server.calls == [{"symbol": "BTC", "end_time": NOW_MS, "limit": 5}]
    first = int((last_stored - timedelta(hours=8)).timestamp() * 1000)
    assert [r["time"] for r in result.rows] == [
        first + i * H4_MS for i in range(4)
    ]  # 2 overlap + stored + new


def test_rows_before_the_start_are_dropped() -> None:
    server = SeriesServer([NOW_MS - 10 * H4_MS, NOW_MS - 9 * H4_MS, NOW_MS - H4_MS])  # a gap in the data
    since = datetime.fromtimestamp((NOW_MS - 3 * H4_MS) / 1000, UTC)
    result = fetch_history(server, EP, {}, "4h", since, history_days=30, overlap_bars=0, now=NOW)
    assert result.requests == 1 and [r["time"] for r in result.rows] == [NOW_MS - H4_MS]


def test_empty_series_is_one_request() -> None:
    result = fetch_history(SeriesServer([]), EP, {}, "4h", None, history_days=365, now=NOW)
    assert result.requests == 1 and result.rows == [] and result.stop_reason == "empty_page"


def test_max_requests_bounds_the_walk() -> None:
    server = series(5000)
    result = fetch_history(server, EP, {}, "4h", None, history_days=5000, now=NOW, max_requests=2)
    assert result.requests == 2 and result.stop_reason == "max_requests" and len(result.rows) == 2000


def test_smaller_limit_pages_more() -> None:
    server = series(250)
    result = fetch_history(server, EP, {}, "4h", None, history_days=365, now=NOW, limit=100)
    assert result.requests == 3 and len(result.rows) == 250


def test_paging_params_and_bad_limits_are_refused() -> None:
    with pytest.raises(InvalidParameterError, match="limit"):
        fetch_history(series(1), EP, {}, "4h", None, history_days=1, now=NOW, limit=1001)
    with pytest.raises(InvalidParameterError, match="paging"):
        fetch_history(series(1), EP, {"end_time": 1}, "4h", None, history_days=1, now=NOW)
    with pytest.raises(InvalidParameterError, match="interval"):
        fetch_history(series(1), EP, {}, "2h", None, history_days=1, now=NOW)


def test_a_row_without_time_is_schema_drift() -> None:
    class Renamed:
        def get(self, endpoint: str, params: Mapping[str, Any] | None = None) -> Any:
            return [{"ts": NOW_MS - H4_MS, "close": 1}]

    with pytest.raises(SchemaDriftError, match=r"'time'.*fields seen: \['close', 'ts'\]"):
        fetch_history(Renamed(), EP, {}, "4h", None, history_days=1, now=NOW)


def test_etf_style_time_field() -> None:
    day = 86_400_000
    server = SeriesServer([])
    server.rows = [{"timestamp": NOW_MS - i * day, "flow_usd": 1} for i in range(3, 0, -1)]

    class Etf:
        def get(self, endpoint: str, params: Mapping[str, Any] | None = None) -> Any:
            return server.rows[-(params or {})["limit"] :]

    result = fetch_history(
        Etf(),
        "/api/etf/bitcoin/flow-history",
        {},
        "1d",
        None,
        history_days=10,
        now=NOW,
        time_field="timestamp",
    )
    assert len(result.rows) == 3
