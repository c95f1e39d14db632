"""Clocks and bar arithmetic; the server-date clock against the replay server's simulated now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sniper_pipeline.coinglass.client import CoinGlassClient
from sniper_pipeline.coinglass.clock import (
    INTERVALS,
    Clock,
    FixedClock,
    ServerDateClock,
    SystemClock,
    floor_to_interval,
    interval_seconds,
    last_closed_bar_open,
    validate_interval,
)
from sniper_pipeline.coinglass.errors import InvalidParameterError
from sniper_pipeline.settings.timeutil import from_epoch_ms, to_epoch_ms, to_utc
from sniper_pipeline_tests.coinglass.conftest import TEST_KEY, ReplayFactory
from sniper_pipeline_tests.coinglass.support import RecordingSleeper

SIM_NOW = datetime(2025, 5, 21, tzinfo=UTC)


def test_intervals_and_their_lengths() -> None:
    assert INTERVALS == ("1m", "3m", "5m", "15m", "30m", "1h", "4h", "6h", "8h", "12h", "1d", "1w")
    assert [interval_seconds(i) for i in ("1m", "30m", "4h", "1d", "1w")] == [60, 1800, 14400, 86400, 604800]


@pytest.mark.parametrize("bad", ["2h", "1M", "4H", "", "60", "1y"])
def test_unknown_interval_is_a_clear_client_side_error(bad: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        validate_interval(bad, endpoint="/api/x")
    assert "1m 3m 5m 15m 30m 1h 4h 6h 8h 12h 1d 1w" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_bar_closes_at_open_plus_interval() -> None:
    bar = datetime(2025, 5, 20, 16, tzinfo=UTC)
    assert last_closed_bar_open(datetime(2025, 5, 20, 19, 59, 59, tzinfo=UTC), "4h") < bar
    assert last_closed_bar_open(datetime(2025, 5, 20, 20, tzinfo=UTC), "4h") == bar
    assert last_closed_bar_open(datetime(2025, 5, 20, 21, 30, tzinfo=UTC), "4h") == datetime(
        2025, 5, 20, 16, tzinfo=UTC
    )
    assert floor_to_interval(datetime(2025, 5, 20, 21, 30, tzinfo=UTC), "8h") == datetime(
        2025, 5, 20, 16, tzinfo=UTC
    )


def test_weeks_open_on_monday() -> None:
    monday = datetime(2025, 5, 19, tzinfo=UTC)
    assert floor_to_interval(datetime(2025, 5, 21, 9, tzinfo=UTC), "1w") == monday
    assert floor_to_interval(monday, "1w") == monday
    assert last_closed_bar_open(datetime(2025, 5, 21, tzinfo=UTC), "1w") == monday - timedelta(days=7)


def test_time_conversions_are_utc() -> None:
    naive = datetime(2025, 5, 20, 0, 0)
    assert to_utc(naive).tzinfo is UTC
    plus2 = datetime(2025, 5, 20, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    assert to_utc(plus2) == datetime(2025, 5, 20, 0, 0, tzinfo=UTC)
    assert to_epoch_ms(plus2) == 1747699200000 == to_epoch_ms(1747699200000)
    assert from_epoch_ms(1747699200000) == datetime(2025, 5, 20, tzinfo=UTC)


def test_system_and_fixed_clocks() -> None:
    assert isinstance(SystemClock(), Clock) and isinstance(ServerDateClock(), Clock)
    now = SystemClock().now()
    assert now.tzinfo is not None and abs(now - datetime.now(UTC)) < timedelta(seconds=5)
    fixed = FixedClock(SIM_NOW)
    fixed.advance(timedelta(hours=1))
    assert fixed.now() == SIM_NOW + timedelta(hours=1)


def test_server_date_clock_runs_on_from_the_last_date_header() -> None:
    mono = [50.0]
    clock = ServerDateClock(fallback=FixedClock(datetime(2030, 1, 1, tzinfo=UTC)), monotonic=lambda: mono[0])
    assert not clock.synced and clock.now() == datetime(
        2030, 1, 1, tzinfo=UTC
    )  # fallback before any response
    assert clock.observe_date("Wed, 21 May 2025 00:00:00 GMT")
    mono[0] += 90.5
    assert clock.now() == SIM_NOW + timedelta(seconds=90.5)
    assert not clock.observe_date("yesterday") and not clock.observe_date(None)
    assert clock.now() == SIM_NOW + timedelta(seconds=90.5)  # a bad header keeps the anchor
    assert clock.now().tzinfo is not None


def test_sync_takes_the_replay_servers_simulated_now(replay_factory: ReplayFactory) -> None:
    server = replay_factory(now=SIM_NOW)
    clock = ServerDateClock()
    client = CoinGlassClient(server.base_url, TEST_KEY, clock=clock, sleeper=RecordingSleeper())
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(minutes=1)  # system time before sync
    synced = clock.sync(client)
    assert abs(synced - SIM_NOW) < timedelta(seconds=5)
    assert abs(client.now() - SIM_NOW) < timedelta(seconds=5)


def test_every_response_re_anchors_the_default_clock(replay_factory: ReplayFactory) -> None:
    server = replay_factory(now=SIM_NOW)
    client = CoinGlassClient(server.base_url, TEST_KEY, sleeper=RecordingSleeper())
    response = client.request("/api/futures/pairs-markets", {"symbol": "BTC"})
    assert response.server_date is not None and abs(response.server_date - SIM_NOW) < timedelta(seconds=5)
    assert abs(client.now() - SIM_NOW) < timedelta(seconds=5)
