"""The stream sensor's decision, case by case (pure: totals come from a dict)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sniper_pipeline.stream.thresholds import CoinThreshold
from sniper_pipeline.stream.trigger import stream_scans

NOW = datetime(2025, 6, 30, 17, 30, tzinfo=UTC)  # inside the 16:00 4h bar and the 17:00 1h bar
B4H = datetime(2025, 6, 30, 16, tzinfo=UTC)
B1H = datetime(2025, 6, 30, 17, tzinfo=UTC)


class Totals:
    """(long, short) per coin, recording which bars were asked."""

    def __init__(self, values: dict[str, tuple[float, float]]) -> None:
        self.values = values
        self.asked: list[tuple[str, datetime, datetime]] = []

    def __call__(self, coin: str, bar_open: datetime, bar_close: datetime) -> tuple[float, float]:
        self.asked.append((coin, bar_open, bar_close))
        return self.values.get(coin, (0.0, 0.0))


def test_above_the_threshold_requests_a_scan_of_the_current_bar() -> None:
    totals = Totals({"BTC": (600.0, 500.0)})
    d = stream_scans(None, NOW, {"BTC": "4h"}, {"BTC": CoinThreshold(1000.0, "4h")}, totals)
    assert [(r.coin, r.bar_open, r.total_usd, r.threshold_usd) for r in d.requests] == [
        ("BTC", B4H, 1100.0, 1000.0)
    ]
    assert d.requests[0].run_key == "stream|BTC|2025-06-30T16:00:00+00:00"
    assert totals.asked == [("BTC", B4H, datetime(2025, 6, 30, 20, tzinfo=UTC))]
    assert json.loads(d.cursor) == {"BTC": "2025-06-30T16:00:00+00:00"}


def test_at_or_below_the_threshold_nothing_is_requested() -> None:
    thresholds = {"BTC": CoinThreshold(1000.0, "4h"), "ETH": CoinThreshold(1000.0, "4h")}
    totals = Totals({"BTC": (1000.0, 0.0), "ETH": (400.0, 300.0)})  # equal is not above
    d = stream_scans(None, NOW, {"BTC": "4h", "ETH": "4h"}, thresholds, totals)
    assert d.requests == [] and json.loads(d.cursor) == {}


def test_one_request_per_coin_and_bar() -> None:
    grids, thresholds = {"BTC": "1h"}, {"BTC": CoinThreshold(10.0, "1h")}
    totals = Totals({"BTC": (0.0, 50.0)})
    first = stream_scans(None, NOW, grids, thresholds, totals)
    again = stream_scans(first.cursor, NOW.replace(minute=59), grids, thresholds, totals)
    assert len(first.requests) == 1 and again.requests == [] and again.cursor == first.cursor
    assert len(totals.asked) == 1  # the store is not even asked again for a requested bar
    next_bar = stream_scans(again.cursor, datetime(2025, 6, 30, 18, 1, tzinfo=UTC), grids, thresholds, totals)
    assert [r.run_key for r in next_bar.requests] == ["stream|BTC|2025-06-30T18:00:00+00:00"]


def test_coins_without_threshold_or_grid_are_left_alone() -> None:
    totals = Totals({"BTC": (1e9, 1e9), "SOL": (1e9, 0.0)})
    d = stream_scans(None, NOW, {"BTC": "4h"}, {"SOL": CoinThreshold(1.0, "4h")}, totals)
    assert d.requests == [] and totals.asked == [] and d.notes == []


def test_a_threshold_for_another_interval_is_not_compared() -> None:
    totals = Totals({"BTC": (1e9, 0.0)})
    d = stream_scans(None, NOW, {"BTC": "1h"}, {"BTC": CoinThreshold(1.0, "4h")}, totals)
    assert d.requests == [] and totals.asked == []
    assert d.notes == ["BTC: threshold is per 4h bar, grid is 1h: skipped"]


def test_each_coin_on_its_own_grid() -> None:
    grids = {"BTC": "4h", "ETH": "1h"}
    thresholds = {"BTC": CoinThreshold(5.0, "4h"), "ETH": CoinThreshold(5.0, "1h")}
    d = stream_scans(None, NOW, grids, thresholds, Totals({"BTC": (6.0, 0.0), "ETH": (0.0, 6.0)}))
    assert [(r.coin, r.bar_open) for r in d.requests] == [("BTC", B4H), ("ETH", B1H)]


def test_a_foreign_or_broken_cursor_is_survived() -> None:
    grids, thresholds, totals = {"BTC": "4h"}, {"BTC": CoinThreshold(1.0, "4h")}, Totals({"BTC": (2.0, 0.0)})
    for cursor in ("not json", "[1]", json.dumps({"4h": "2025-06-30T12:00:00+00:00"})):
        d = stream_scans(cursor, NOW, grids, thresholds, totals)
        assert [r.coin for r in d.requests] == ["BTC"]
        assert json.loads(d.cursor) == {"BTC": "2025-06-30T16:00:00+00:00"}  # old entries dropped


def test_the_cursor_keeps_earlier_requests_of_other_coins() -> None:
    cursor = json.dumps({"ETH": "2025-06-30T17:00:00+00:00"})
    d = stream_scans(
        cursor,
        NOW,
        {"ETH": "1h", "BTC": "4h"},
        {"BTC": CoinThreshold(1.0, "4h")},
        Totals({"BTC": (2.0, 0.0)}),
    )
    assert json.loads(d.cursor) == {"BTC": "2025-06-30T16:00:00+00:00", "ETH": "2025-06-30T17:00:00+00:00"}
