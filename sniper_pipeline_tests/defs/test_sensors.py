"""new_bar_sensor against the replay server's simulated clock (`--now`), cursor case by case."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg

from sniper_pipeline.coinglass.replay import ReplayServer
from sniper_pipeline.defs.ingest.resources import CoinGlassResource
from sniper_pipeline.defs.ops.sensors import build_new_bar_sensor
from sniper_pipeline.runtime import Runtime


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
    assert [r.run_key for r in first.run_requests or []] == ["HYPE|2025-06-30T12:00:00+00:00"]
    assert first.run_requests[0].partition_key == "HYPE"  # type: ignore[index]

    same_bar = _tick(replay_runtime, start + timedelta(minutes=80), first.cursor)
    assert not same_bar.run_requests and same_bar.cursor == first.cursor

    closed = _tick(replay_runtime, datetime(2025, 6, 30, 20, 0, 5, tzinfo=UTC), first.cursor)
    assert [r.run_key for r in closed.run_requests or []] == ["HYPE|2025-06-30T16:00:00+00:00"]
    assert json.loads(closed.cursor or "{}") == {"4h": "2025-06-30T16:00:00+00:00"}
