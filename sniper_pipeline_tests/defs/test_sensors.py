"""new_bar_sensor against the replay server's simulated clock (`--now`), cursor case by case."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg

from sniper_pipeline.defs.ingest.partitions import RANGE_END_TAG, RANGE_START_TAG, coin_ranges
from sniper_pipeline.defs.ingest.resources import CoinGlassResource
from sniper_pipeline.defs.ops.sensors import build_new_bar_sensor, scan_run_requests
from sniper_pipeline.ingest.runtime import Runtime
from sniper_pipeline.ingest.scan_cursor import ScanRequest
from sniper_pipeline.replay.server import ReplayServer


def _tick(runtime: Runtime, now: datetime, cursor: str | None) -> dg.SensorResult:
    with ReplayServer(runtime.replay_dir, quiet=True, now=now) as server:  # type: ignore[arg-type]
        sensor = build_new_bar_sensor(runtime)
        context = dg.build_sensor_context(
            cursor=cursor, resources={"coinglass": CoinGlassResource(base_url=server.base_url, api_key="k")}
        )
        result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def test_new_bar_sensor_follows_the_replay_clock(replay_runtime: Runtime) -> None:
    start = datetime(2025, 6, 30, 18, 30, tzinfo=UTC)
    first = _tick(replay_runtime, start, None)
    assert [r.run_key for r in first.run_requests or []] == ["HYPE..HYPE|2025-06-30T12:00:00+00:00"]
    # One run per scan: the due coins as a partition range (here the one coin with data).
    assert first.run_requests[0].tags[RANGE_START_TAG] == "HYPE"  # type: ignore[index]
    assert first.run_requests[0].tags[RANGE_END_TAG] == "HYPE"  # type: ignore[index]

    same_bar = _tick(replay_runtime, start + timedelta(minutes=80), first.cursor)
    assert not same_bar.run_requests and same_bar.cursor == first.cursor

    closed = _tick(replay_runtime, datetime(2025, 6, 30, 20, 0, 5, tzinfo=UTC), first.cursor)
    assert [r.run_key for r in closed.run_requests or []] == ["HYPE..HYPE|2025-06-30T16:00:00+00:00"]
    assert json.loads(closed.cursor or "{}") == {"4h": "2025-06-30T16:00:00+00:00"}


def test_due_coins_become_contiguous_partition_ranges() -> None:
    coins = ["ADA", "BTC", "ETH", "SOL", "XRP"]
    assert coin_ranges(coins, ["BTC", "ETH", "XRP"]) == [("BTC", "ETH"), ("XRP", "XRP")]
    assert coin_ranges(coins, coins) == [("ADA", "XRP")]
    assert coin_ranges(coins, []) == []


def test_one_run_per_bar_close_covers_every_due_coin() -> None:
    h4 = datetime(2025, 6, 30, 16, tzinfo=UTC)
    h1 = datetime(2025, 6, 30, 19, tzinfo=UTC)
    requests = [ScanRequest(c, h4) for c in ("ADA", "BTC", "ETH")] + [ScanRequest("SOL", h1)]
    runs = scan_run_requests(requests, ["ADA", "BTC", "ETH", "SOL"])
    assert [(r.tags[RANGE_START_TAG], r.tags[RANGE_END_TAG]) for r in runs] == [
        ("ADA", "ETH"),
        ("SOL", "SOL"),
    ]
    assert len({r.run_key for r in runs}) == 2
