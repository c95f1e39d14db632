from __future__ import annotations

import json
from datetime import UTC, datetime

from sniper_pipeline.ingest.scan_cursor import due_scans

GRIDS = {"BTC": "4h", "ETH": "4h", "HYPE": "1h"}


def test_first_tick_scans_every_coin_and_sets_the_cursor() -> None:
    requests, cursor = due_scans(None, datetime(2025, 5, 20, 21, 30, tzinfo=UTC), GRIDS)
    assert [(r.coin, r.bar_open.hour) for r in requests] == [("BTC", 16), ("ETH", 16), ("HYPE", 20)]
    assert json.loads(cursor) == {"1h": "2025-05-20T20:00:00+00:00", "4h": "2025-05-20T16:00:00+00:00"}


def test_nothing_new_requests_nothing() -> None:
    _, cursor = due_scans(None, datetime(2025, 5, 20, 21, 30, tzinfo=UTC), GRIDS)
    requests, again = due_scans(cursor, datetime(2025, 5, 20, 21, 59, tzinfo=UTC), GRIDS)
    assert requests == [] and again == cursor


def test_only_the_interval_that_closed_is_scanned() -> None:
    _, cursor = due_scans(None, datetime(2025, 5, 20, 21, 30, tzinfo=UTC), GRIDS)
    requests, _ = due_scans(cursor, datetime(2025, 5, 20, 22, 0, 1, tzinfo=UTC), GRIDS)
    assert [r.run_key for r in requests] == ["HYPE|2025-05-20T21:00:00+00:00"]
    requests, _ = due_scans(cursor, datetime(2025, 5, 21, 0, 0, 0, tzinfo=UTC), GRIDS)
    assert {r.coin for r in requests} == {"BTC", "ETH", "HYPE"}
