"""The WebSocket client against the replay WebSocket server, over real loopback sockets."""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from sniper_pipeline.coinglass.client import websocket_url
from sniper_pipeline.stream.client import Backoff, LiquidationStreamClient, StreamAuthError
from sniper_pipeline.stream.orders import LiquidationOrder
from sniper_pipeline.stream.replay_ws import ReplayWsServer, load_pushes
from sniper_pipeline.stream.store import (
    bar_totals,
    liquidation_orders,
    write_orders,
)
from sniper_pipeline_tests.stream.conftest import (
    DISTINCT_KEPT,
    EXCHANGES,
    FIXTURE,
    SECRET,
    fast_sleep,
    run_until,
)
from sniper_pipeline_tests.stream.support import count_orders, read_orders

T16 = datetime(2025, 6, 30, 16, tzinfo=UTC)
T17 = datetime(2025, 6, 30, 17, tzinfo=UTC)
T20 = datetime(2025, 6, 30, 20, tzinfo=UTC)


def _client(
    server: ReplayWsServer, store: Engine, delays: list[float] | None = None, **kwargs: object
) -> LiquidationStreamClient:
    options: dict[str, object] = {
        "exchanges": EXCHANGES,
        "sleep": functools.partial(fast_sleep, [] if delays is None else delays),
        **kwargs,
    }
    return LiquidationStreamClient(
        server.url_with_key(SECRET),
        lambda batch: write_orders(store, batch),
        **options,  # type: ignore[arg-type]
    )


def test_subscribes_and_stores_every_push(store: Engine) -> None:
    with ReplayWsServer(FIXTURE) as server:
        client = _client(server, store)
        stats = run_until(client, lambda: server.all_sent.is_set() and count_orders(store) == DISTINCT_KEPT)
    assert server.subscriptions == [{"method": "subscribe", "channels": ["liquidationOrders"]}]
    assert stats.connections == 1 and stats.pushes == 7 and stats.orders_received == 15
    assert stats.orders_kept == 13  # line 7 repeats line 2: kept, then deduplicated by the store
    assert stats.orders_stored == DISTINCT_KEPT
    # The README's totals; side 1 went to long, side 2 to short.
    assert bar_totals(store, "BTC", T16, T20) == (370_000.5, 80_000.0)
    assert bar_totals(store, "BTC", T16, T17) == (370_000.5, 75_000.0)
    assert bar_totals(store, "ETH", T16, T20) == (75_000.0, 0.0)


def test_side_mapping_is_stored_as_sent(sqlite_store: Engine) -> None:
    with ReplayWsServer(FIXTURE) as server:
        run_until(_client(server, sqlite_store), lambda: count_orders(sqlite_store) == DISTINCT_KEPT)
    by_exchange = {(o.exchange, o.time_ms): o for o in read_orders(sqlite_store, "BTC")}
    assert by_exchange[("Binance", 1751299200000)].is_long  # side 1
    assert not by_exchange[("Bybit", 1751299201250)].is_long  # side 2
    assert by_exchange[("Binance", 1751300400000)].vol_usd == 250_000.5  # strings parsed


def test_exchange_and_coin_filter(sqlite_store: Engine) -> None:
    with ReplayWsServer(FIXTURE) as server:
        client = _client(server, sqlite_store, exchanges=["binance"], coins=["ETH", "POL"])
        stats = run_until(client, lambda: count_orders(sqlite_store) == 2 and stats_done(client))
    orders = read_orders(sqlite_store)
    assert {(o.exchange, o.base_asset) for o in orders} == {("Binance", "ETH"), ("Binance", "POL")}
    assert stats.orders_received == 15 and stats.orders_stored == 2


def stats_done(client: LiquidationStreamClient) -> bool:
    return client.stats.pushes >= 7


def test_without_a_filter_every_exchange_is_stored(sqlite_store: Engine) -> None:
    with ReplayWsServer(FIXTURE) as server:
        client = _client(server, sqlite_store, exchanges=None)
        run_until(client, lambda: count_orders(sqlite_store) == 13)
    assert bar_totals(sqlite_store, "BTC", T16, T20)[0] == pytest.approx(370_000.5 + 999_999.0)


def test_ping_every_interval_and_pong_answers(sqlite_store: Engine) -> None:
    with ReplayWsServer(FIXTURE) as server:
        client = _client(server, sqlite_store, ping_interval=0.05, pong_timeout=2.0)
        stats = run_until(client, lambda: client.stats.pongs >= 4)
    assert server.pings >= 4
    assert stats.pings_sent >= 4 and stats.pongs >= 4 and stats.pong_timeouts == 0
    assert stats.connections == 1  # a healthy connection stays up


def test_no_pong_means_reconnect(sqlite_store: Engine) -> None:
    with ReplayWsServer(FIXTURE, answer_pings=False) as server:
        client = _client(server, sqlite_store, ping_interval=0.05, pong_timeout=0.05)
        stats = run_until(client, lambda: client.stats.connections >= 3)
    assert stats.pong_timeouts >= 2 and stats.pongs == 0
    assert count_orders(sqlite_store) == DISTINCT_KEPT  # the pushes still arrived


def test_reconnect_after_drops_loses_nothing_and_stores_no_duplicate(store: Engine) -> None:
    delays: list[float] = []
    # Each connection is cut after 2 pushes and the next re-sends the last one: 7 connections.
    with ReplayWsServer(FIXTURE, drop_after=2, resend_on_reconnect=1) as server:
        client = _client(server, store, delays, backoff=Backoff(initial=0.5, cap=8), rand=lambda: 1.0)
        stats = run_until(
            client,
            lambda: (
                server.connections >= 7 and server.all_sent.is_set() and count_orders(store) == DISTINCT_KEPT
            ),
        )
    assert server.drops == 6 and server.pushes_sent == 13
    assert stats.connections == 7 and stats.reconnects == 6
    assert stats.orders_stored == DISTINCT_KEPT < stats.orders_kept  # re-sent orders were not stored again
    assert "no close frame" in (stats.last_error or "")
    # Every connection delivered data, so the backoff starts over each time.
    assert delays == [0.5] * 6
    with store.connect() as conn:
        ids: list[str] = list(conn.execute(select(liquidation_orders.c.order_id)).scalars())
    assert len(ids) == len(set(ids)) == DISTINCT_KEPT
    assert bar_totals(store, "BTC", T16, T20) == (370_000.5, 80_000.0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_backoff_grows_exponentially_to_its_cap_while_the_server_is_down(sqlite_store: Engine) -> None:
    delays: list[float] = []
    url = websocket_url(SECRET, base=f"ws://127.0.0.1:{_free_port()}/ws-api")
    client = LiquidationStreamClient(
        url,
        lambda batch: write_orders(sqlite_store, batch),
        backoff=Backoff(initial=1.0, factor=2.0, cap=10.0, jitter=0.5),
        sleep=functools.partial(fast_sleep, delays),
        rand=lambda: 0.5,
    )
    stats = run_until(client, lambda: len(delays) >= 6)
    # min(cap, 2**n) scaled by (1 - jitter + jitter * rand) = 0.75
    assert delays[:6] == [0.75, 1.5, 3.0, 6.0, 7.5, 7.5]
    assert stats.connections == 0 and "Error" in (stats.last_error or "")


@pytest.mark.parametrize(
    ("delay_for", "expected"),
    [((0, 0.0), 0.5), ((0, 1.0), 1.0), ((3, 0.0), 4.0), ((10, 1.0), 60.0), ((200, 0.5), 45.0)],
)
def test_backoff_delay(delay_for: tuple[int, float], expected: float) -> None:
    assert Backoff(initial=1.0, factor=2.0, cap=60.0, jitter=0.5).delay(*delay_for) == expected


def test_a_refused_key_stops_the_stream_without_revealing_it(
    sqlite_store: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with ReplayWsServer(FIXTURE, accept_keys={"the-right-key"}) as server:
        client = _client(server, sqlite_store)
        with pytest.raises(StreamAuthError) as info:
            run_until(client, lambda: False, timeout=5)
    assert server.rejected == 1 and server.connections == 0
    message = str(info.value)
    assert "HTTP 401" in message and "cg-api-key=***" in message
    assert SECRET not in message and SECRET not in repr(info.value)
    assert info.value.__cause__ is None  # nothing chained that could quote the URL
    assert SECRET not in caplog.text
    assert count_orders(sqlite_store) == 0


def test_a_missing_key_is_refused(sqlite_store: Engine) -> None:
    with ReplayWsServer(FIXTURE) as server:
        client = LiquidationStreamClient(server.url, lambda batch: write_orders(sqlite_store, batch))
        with pytest.raises(StreamAuthError):
            run_until(client, lambda: False, timeout=5)
    assert server.rejected == 1


def test_the_key_is_in_no_log_exception_store_or_recording(
    sqlite_store: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    record = tmp_path / "recorded.jsonl"
    with ReplayWsServer(FIXTURE, drop_after=3, answer_pings=True) as server:
        client = _client(server, sqlite_store, ping_interval=0.05, pong_timeout=2.0, record_to=record)
        stats = run_until(
            client, lambda: server.drops >= 2 and client.stats.pongs >= 1 and server.all_sent.is_set()
        )
    # The DEBUG logs did see the handshake (the websockets library logs the request path) ...
    assert "GET /ws-api?cg-api-key=***" in caplog.text
    assert "cg-api-key=***" in caplog.text
    # ... but never the key, in any form.
    for form in (SECRET, SECRET.lower(), "0123456789abcdef"):
        assert form not in caplog.text
    assert SECRET not in repr(client) and SECRET not in client.safe_url
    assert SECRET not in str(stats.as_dict())
    with sqlite_store.connect() as conn:
        rows = conn.execute(select(liquidation_orders)).all()
    assert rows and all(SECRET not in str(tuple(r)) for r in rows)
    assert SECRET not in record.read_text()


def test_a_recorded_stream_replays_to_the_same_store(sqlite_store: Engine, tmp_path: Path) -> None:
    record = tmp_path / "recorded.jsonl"
    with ReplayWsServer(FIXTURE) as server:
        client = _client(server, sqlite_store, exchanges=None, record_to=record)
        run_until(client, lambda: stats_done(client))
    assert load_pushes(record) == load_pushes(FIXTURE)  # every push, before the filter
    from sniper_pipeline.stream.store import make_store_engine

    replayed = make_store_engine(f"sqlite:///{tmp_path / 'replayed.sqlite'}")
    with ReplayWsServer(record) as server:
        client = _client(server, replayed, exchanges=None)
        run_until(client, lambda: stats_done(client))
    assert read_orders(replayed) == read_orders(sqlite_store)
    replayed.dispose()


def test_a_store_outage_loses_nothing(sqlite_store: Engine) -> None:
    calls: list[set[str]] = []

    def flaky(batch: list[LiquidationOrder]) -> int:
        calls.append({o.order_id for o in batch})
        if len(calls) <= 2:
            raise OSError("database is down")
        return write_orders(sqlite_store, batch)

    with ReplayWsServer(FIXTURE) as server:
        client = LiquidationStreamClient(
            server.url_with_key(SECRET), flaky, exchanges=EXCHANGES, store_retry_s=0.05
        )
        stats = run_until(client, lambda: count_orders(sqlite_store) == DISTINCT_KEPT)
    assert stats.store_failures == 2 and stats.orders_stored == DISTINCT_KEPT
    # What the store refused rides along with the next try.
    assert calls[0] <= calls[1] <= calls[2]


def test_a_slow_store_does_not_hold_up_pongs(sqlite_store: Engine) -> None:
    def slow(batch: list[LiquidationOrder]) -> int:
        time.sleep(0.5)  # ten ping intervals, longer than the pong timeout
        return write_orders(sqlite_store, batch)

    with ReplayWsServer(FIXTURE) as server:
        client = LiquidationStreamClient(
            server.url_with_key(SECRET), slow, exchanges=EXCHANGES, ping_interval=0.05, pong_timeout=0.3
        )
        stats = run_until(
            client, lambda: count_orders(sqlite_store) == DISTINCT_KEPT and client.stats.pongs >= 3
        )
    assert stats.pong_timeouts == 0 and stats.connections == 1


def test_orders_the_store_refused_are_flushed_on_stop() -> None:
    stored: list[LiquidationOrder] = []
    state = {"fail": True}

    def sink(batch: list[LiquidationOrder]) -> int:
        if state["fail"]:
            raise OSError("down")
        stored.extend(batch)
        return len(batch)

    with ReplayWsServer(FIXTURE) as server:
        client = LiquidationStreamClient(server.url_with_key(SECRET), sink, exchanges=EXCHANGES)

        async def main() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(client.run(stop=stop, max_seconds=5))
            while client.stats.pushes < 7:
                await asyncio.sleep(0.01)
            state["fail"] = False
            stop.set()
            await task

        asyncio.run(main())
    assert len({o.order_id for o in stored}) == DISTINCT_KEPT


def test_other_messages_and_unusable_rows_are_counted_not_stored(sqlite_store: Engine) -> None:
    pushes: list[dict[str, Any]] = [
        {"channel": "notice", "msg": "subscribed"},
        {"channel": "liquidationOrders", "data": [{"baseAsset": "BTC", "side": 1}]},
        *load_pushes(FIXTURE)[:1],
    ]
    with ReplayWsServer(pushes) as server:
        client = _client(server, sqlite_store)
        stats = run_until(client, lambda: count_orders(sqlite_store) == 2)
    assert stats.messages_ignored == 1 and stats.rows_malformed == 1 and stats.pushes == 2
