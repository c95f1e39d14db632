"""Push parsing: side mapping, numbers as strings, unusable rows, the deterministic id, the filter."""

from __future__ import annotations

import json

import pytest

from sniper_pipeline.stream.orders import (
    LiquidationOrder,
    MalformedPushError,
    OrderFilter,
    parse_push,
)
from sniper_pipeline.stream.replay_ws import load_pushes
from sniper_pipeline_tests.stream.conftest import FIXTURE

ROW = {
    "baseAsset": "BTC",
    "exName": "Binance",
    "price": 56738.0,
    "side": 2,
    "symbol": "BTCUSDT",
    "time": 1725416318379,
    "volUsd": 3858.184,
}


def _push(*rows: object) -> str:
    return json.dumps({"channel": "liquidationOrders", "data": list(rows)})


def test_the_documented_push_parses() -> None:
    parsed = parse_push(_push(ROW))
    assert parsed is not None
    orders, bad = parsed
    assert bad == 0
    assert orders == [LiquidationOrder("Binance", "BTCUSDT", "BTC", 2, 56738.0, 3858.184, 1725416318379)]
    assert not orders[0].is_long  # side 2: a short position was liquidated


@pytest.mark.parametrize(("side", "is_long"), [(1, True), (2, False), ("1", True), ("2", False)])
def test_side_1_is_longs_liquidated_2_is_shorts(side: object, is_long: bool) -> None:
    parsed = parse_push(_push({**ROW, "side": side}))
    assert parsed is not None
    assert parsed[0][0].is_long is is_long


def test_numbers_as_strings_hash_like_numbers() -> None:
    as_strings = {k: str(v) for k, v in ROW.items()}
    a = parse_push(_push(ROW))
    b = parse_push(_push(as_strings))
    assert a is not None and b is not None
    assert a[0] == b[0]
    assert a[0][0].order_id == b[0][0].order_id
    assert len(a[0][0].order_id) == 64


def test_the_id_changes_with_any_identifying_field() -> None:
    base = LiquidationOrder("Binance", "BTCUSDT", "BTC", 1, 100.0, 10.0, 1)
    variants = [
        LiquidationOrder("OKX", "BTCUSDT", "BTC", 1, 100.0, 10.0, 1),
        LiquidationOrder("Binance", "BTC-USDT-SWAP", "BTC", 1, 100.0, 10.0, 1),
        LiquidationOrder("Binance", "BTCUSDT", "BTC", 2, 100.0, 10.0, 1),
        LiquidationOrder("Binance", "BTCUSDT", "BTC", 1, 100.5, 10.0, 1),
        LiquidationOrder("Binance", "BTCUSDT", "BTC", 1, 100.0, 10.5, 1),
        LiquidationOrder("Binance", "BTCUSDT", "BTC", 1, 100.0, 10.0, 2),
    ]
    assert len({base.order_id, *(v.order_id for v in variants)}) == 7


@pytest.mark.parametrize(
    "bad_row",
    [
        {**ROW, "side": 3},
        {**ROW, "volUsd": None},
        {**ROW, "volUsd": -5},
        {**ROW, "price": "abc"},
        {**ROW, "time": "nan"},
        {k: v for k, v in ROW.items() if k != "exName"},
        "not an object",
    ],
)
def test_unusable_rows_are_counted_and_skipped(bad_row: object) -> None:
    parsed = parse_push(_push(ROW, bad_row))
    assert parsed is not None
    orders, bad = parsed
    assert len(orders) == 1 and bad == 1


def test_other_messages_are_not_pushes() -> None:
    assert parse_push('{"event": "subscribed", "channels": ["liquidationOrders"]}') is None
    assert parse_push('{"channel": "other", "data": []}') is None
    with pytest.raises(MalformedPushError):
        parse_push("pong?")
    with pytest.raises(MalformedPushError):
        parse_push("[1, 2]")
    with pytest.raises(MalformedPushError):
        parse_push('{"channel": "liquidationOrders", "data": 5}')


def test_filter_by_exchange_and_coin_ignores_case() -> None:
    order = LiquidationOrder("Binance", "BTCUSDT", "BTC", 1, 1.0, 1.0, 1)
    assert OrderFilter()(order)
    assert OrderFilter(["okx", "BINANCE"])(order)
    assert not OrderFilter(["OKX", "Bybit"])(order)
    assert OrderFilter(None, ["btc"])(order)
    assert not OrderFilter(["Binance"], ["ETH"])(order)
    assert OrderFilter([], [])(order)  # empty means any, as None does


def test_the_fixture_parses_as_its_readme_says() -> None:
    pushes = load_pushes(FIXTURE)
    parsed = [parse_push(p) for p in pushes]
    orders = [o for p in parsed if p is not None for o in p[0]]
    assert len(pushes) == 7 and len(orders) == 15
    assert len({o.order_id for o in orders}) == 13
    keep = OrderFilter(["OKX", "Binance", "Bybit"])
    assert len({o.order_id for o in orders if keep(o)}) == 11
