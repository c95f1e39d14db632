"""The stream store on SQLite and PostgreSQL: idempotent writes, bar totals, its URL rules."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from sniper_pipeline.stream.orders import LiquidationOrder
from sniper_pipeline.stream.store import (
    StreamStoreError,
    bar_totals,
    make_store_engine,
    store_exists,
    store_url,
    write_orders,
)
from sniper_pipeline_tests.stream.support import count_orders, read_orders

T16 = datetime(2025, 6, 30, 16, tzinfo=UTC)
T17 = datetime(2025, 6, 30, 17, tzinfo=UTC)
MS16 = int(T16.timestamp() * 1000)


def _order(exchange: str, asset: str, side: int, vol: float, time_ms: int) -> LiquidationOrder:
    return LiquidationOrder(exchange, f"{asset}USDT", asset, side, 100.0, vol, time_ms)


ORDERS = [
    _order("Binance", "BTC", 1, 1000.0, MS16 - 1),  # previous bar
    _order("Binance", "BTC", 1, 2000.0, MS16),  # bar open: inside
    _order("OKX", "BTC", 2, 300.0, MS16 + 60_000),
    _order("Hyperliquid", "BTC", 1, 50_000.0, MS16 + 60_000),
    _order("Binance", "POL", 2, 40.0, MS16 + 120_000),
    _order("Binance", "BTC", 2, 7.0, MS16 + 3_600_000),  # bar close: outside
]


def test_writes_are_idempotent(store: Engine) -> None:
    assert write_orders(store, ORDERS) == 6
    assert write_orders(store, ORDERS) == 0  # a replay
    assert write_orders(store, [*ORDERS[:2], *ORDERS[:2]]) == 0  # duplicates inside one batch
    extra = _order("Bybit", "ETH", 1, 5.0, MS16)
    assert write_orders(store, [ORDERS[0], extra]) == 1
    assert count_orders(store) == 7
    assert write_orders(store, []) == 0


def test_bar_totals_sum_sides_in_the_half_open_bar(store: Engine) -> None:
    write_orders(store, ORDERS)
    assert bar_totals(store, "BTC", T16, T17) == (52_000.0, 300.0)
    assert bar_totals(store, "BTC", T16, T17, exchanges=["okx", "BINANCE", "Bybit"]) == (2000.0, 300.0)
    assert bar_totals(store, "ETH", T16, T17) == (0.0, 0.0)
    # MATIC streams as POL: the coin's symbols decide.
    assert bar_totals(store, "MATIC", T16, T17) == (0.0, 0.0)
    assert bar_totals(store, "MATIC", T16, T17, symbols=["POL", "MATIC"]) == (0.0, 40.0)
    # Naive datetimes are UTC.
    assert bar_totals(store, "BTC", T16.replace(tzinfo=None), T17.replace(tzinfo=None)) == (52_000.0, 300.0)


def test_orders_read_back_as_written(store: Engine) -> None:
    write_orders(store, ORDERS)
    assert read_orders(store, "btc") == sorted(
        [o for o in ORDERS if o.base_asset == "BTC"], key=lambda o: (o.time_ms, o.order_id)
    )


def test_default_is_a_sqlite_file_under_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SNIPER_STREAM_URL", raising=False)
    monkeypatch.setenv("SNIPER_DATA_DIR", str(tmp_path / "data"))
    url = store_url()
    assert url.get_backend_name() == "sqlite"
    assert url.database == str((tmp_path / "data" / "stream.sqlite").resolve())
    assert not store_exists()  # asking creates nothing
    assert not (tmp_path / "data" / "stream.sqlite").exists()
    make_store_engine().dispose()
    assert store_exists()


def test_env_overrides_and_postgres_gets_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNIPER_STREAM_URL", "postgresql://u:p@db:5432/stream")
    assert store_url().drivername == "postgresql+psycopg"


@pytest.mark.parametrize("url", ["duckdb:///data/sniper.duckdb", "mysql://u@h/db"])
def test_duckdb_and_others_are_refused(url: str) -> None:
    with pytest.raises(StreamStoreError):
        store_url(url)
