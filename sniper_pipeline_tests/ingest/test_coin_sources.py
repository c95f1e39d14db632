"""The per-coin source choice table: replaced per coin, unchanged rows kept, and safe when two
runs of one coin write it at once."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from sniper_pipeline.ingest.coin_sources import store_coin_sources
from sniper_pipeline.warehouse.engine import make_engine
from sniper_pipeline.warehouse.tables import coin_layer_sources
from sniper_pipeline.warehouse.url import warehouse_location


def source(
    coin: str, layer: str, interval: str = "4h", at: datetime = datetime(2025, 1, 1)
) -> dict[str, Any]:
    return {
        "coin": coin,
        "layer": layer,
        "source_key": f"/api/{layer}?symbol={coin}&interval={interval}",
        "interval": interval,
        "grid_interval": "4h",
        "chosen_at": at,
    }


def stored(engine: Any) -> dict[tuple[str, str], tuple[str, datetime]]:
    table = coin_layer_sources
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.coin, table.c.layer, table.c.interval, table.c.chosen_at)).all()
    return {(coin, layer): (interval, at) for coin, layer, interval, at in rows}


def test_a_coins_rows_are_replaced_and_an_unchanged_choice_keeps_its_time(warehouse_url: str) -> None:
    engine = make_engine(warehouse_location(warehouse_url))
    first = [source("BTC", "funding"), source("BTC", "taker"), source("ETH", "funding")]
    assert store_coin_sources(engine, ["BTC", "ETH"], first)

    later = datetime(2025, 2, 1)
    assert not store_coin_sources(
        engine, ["BTC"], [source("BTC", "funding", at=later), source("BTC", "taker", at=later)]
    )
    assert stored(engine)[("BTC", "funding")][1] == datetime(2025, 1, 1)

    # BTC's taker series is gone and its funding moves to 1h; ETH is not part of this write.
    assert store_coin_sources(engine, ["BTC"], [source("BTC", "funding", "1h", at=later)])
    assert stored(engine) == {
        ("BTC", "funding"): ("1h", later),
        ("ETH", "funding"): ("4h", datetime(2025, 1, 1)),
    }


@pytest.mark.postgres
def test_two_writers_of_one_coin_at_once_both_succeed(pg_url: str) -> None:
    """The other run's uncommitted rows hold the same keys: the write waits for them, then
    updates them (a delete-then-insert failed here on the primary key)."""
    engine = make_engine(warehouse_location(pg_url))
    rows = [source("BTC", "funding"), source("BTC", "taker")]
    errors: list[BaseException] = []

    def write() -> None:
        try:
            store_coin_sources(engine, ["BTC"], rows)
        except BaseException as exc:  # reported by the assert below
            errors.append(exc)

    with engine.connect() as other:
        transaction = other.begin()
        other.execute(coin_layer_sources.insert(), [source("BTC", "funding", "1h")])
        writer = threading.Thread(target=write)
        writer.start()
        writer.join(timeout=1.0)
        assert writer.is_alive(), "the write should wait for the other run's transaction"
        transaction.commit()
    writer.join(timeout=30)
    assert not writer.is_alive() and not errors, errors
    assert {key: interval for key, (interval, _) in stored(engine).items()} == {
        ("BTC", "funding"): "4h",
        ("BTC", "taker"): "4h",
    }
