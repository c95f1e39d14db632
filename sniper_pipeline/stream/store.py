"""The stream's own store: table `liquidation_orders`, keyed by the order's deterministic id.

SQLite file `data/stream.sqlite` by default; `SNIPER_STREAM_URL` overrides it (a PostgreSQL URL in
production). Never the DuckDB warehouse: DuckDB allows one process per file, and the stream is a
second long-running process next to Dagster (design.md section 6), so DuckDB URLs are refused.
Engines use NullPool: the writer (`sniper stream`) and the reader (the sensor) are different
processes and neither should hold a connection between uses.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Float,
    Index,
    MetaData,
    SmallInteger,
    String,
    Table,
    case,
    create_engine,
    event,
    func,
    inspect,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from sniper_pipeline.settings.paths import data_dir
from sniper_pipeline.settings.timeutil import to_epoch_ms
from sniper_pipeline.stream.orders import SIDE_LONG, SIDE_SHORT, LiquidationOrder

ENV_VAR = "SNIPER_STREAM_URL"
DEFAULT_FILE = "stream.sqlite"
_CHUNK = 500

metadata = MetaData()

liquidation_orders = Table(
    "liquidation_orders",
    metadata,
    Column("order_id", String(64), primary_key=True),  # sha256 of exName|symbol|time|side|price|volUsd
    Column("exchange", String(64), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("base_asset", String(32), nullable=False),
    Column("side", SmallInteger, nullable=False),  # 1 long liquidated, 2 short liquidated
    Column("price", Float, nullable=False),
    Column("vol_usd", Float, nullable=False),
    Column("time_ms", BigInteger, nullable=False),  # the order's time, epoch ms (exchange clock)
    Column("received_at", DateTime, nullable=False),  # naive UTC, when this process stored it
    Index("ix_liquidation_orders_asset_time", "base_asset", "time_ms"),
)


class StreamStoreError(ValueError):
    """A store URL this project cannot use."""


def store_url(url: str | URL | None = None) -> URL:
    """`url`, else `SNIPER_STREAM_URL`, else the SQLite file `data/stream.sqlite` (absolute)."""
    raw = url or os.environ.get(ENV_VAR) or f"sqlite:///{(data_dir() / DEFAULT_FILE).resolve()}"
    parsed = make_url(raw)
    backend = parsed.get_backend_name()
    if backend == "duckdb":
        raise StreamStoreError(
            f"{ENV_VAR}: the stream store cannot be DuckDB (one process per file, and the warehouse "
            "file belongs to Dagster): use sqlite:///PATH or postgresql+psycopg://..."
        )
    if backend not in ("sqlite", "postgresql"):
        raise StreamStoreError(f"{ENV_VAR}: unsupported backend {backend!r}; use sqlite or postgresql")
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and parsed.database and parsed.database != ":memory:":
        parsed = parsed.set(database=str(Path(parsed.database).expanduser().resolve()))
    return parsed


def describe(url: URL) -> str:
    """The URL fit for logs: no password."""
    return url.render_as_string(hide_password=True)


def store_exists(url: str | URL | None = None) -> bool:
    """True when the table exists; never creates anything (a SQLite file is not created either)."""
    parsed = store_url(url)
    if parsed.get_backend_name() == "sqlite" and (
        not parsed.database or parsed.database == ":memory:" or not Path(parsed.database).is_file()
    ):
        return False
    engine = make_store_engine(parsed, create_tables=False)
    try:
        return inspect(engine).has_table(liquidation_orders.name)
    finally:
        engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL: the sensor (another process) reads while the stream writes; busy_timeout: wait, don't fail.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_store_engine(url: str | URL | None = None, *, create_tables: bool = True) -> Engine:
    parsed = store_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        if create_tables:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, poolclass=NullPool)
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(parsed, poolclass=NullPool)
    if create_tables:
        metadata.create_all(engine)
    return engine


def _row(order: LiquidationOrder, received_at: datetime) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "exchange": order.exchange,
        "symbol": order.symbol,
        "base_asset": order.base_asset,
        "side": order.side,
        "price": order.price,
        "vol_usd": order.vol_usd,
        "time_ms": order.time_ms,
        "received_at": received_at,
    }


def write_orders(
    engine: Engine, orders: Iterable[LiquidationOrder], *, received_at: datetime | None = None
) -> int:
    """Insert orders not stored yet; returns how many were new. Idempotent: an order already in
    the store (same id) is skipped, so replays and reconnect duplicates cost nothing."""
    stamp = (received_at or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    unique: dict[str, dict[str, Any]] = {}
    for order in orders:
        unique.setdefault(order.order_id, _row(order, stamp))
    if not unique:
        return 0
    rows = list(unique.values())
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    new = 0
    with engine.begin() as conn:
        for start in range(0, len(rows), _CHUNK):
            stmt = (
                dialect.insert(liquidation_orders)
                .on_conflict_do_nothing(index_elements=["order_id"])
                .returning(liquidation_orders.c.order_id)  # only rows really inserted come back
            )
            new += len(conn.execute(stmt, rows[start : start + _CHUNK]).all())
    return new


def bar_totals(
    engine: Engine,
    coin: str,
    bar_open: datetime,
    bar_close: datetime,
    *,
    symbols: Sequence[str] | None = None,
    exchanges: Sequence[str] | None = None,
) -> tuple[float, float]:
    """(long_usd, short_usd) liquidated in [bar_open, bar_close) for the coin.

    `symbols`: the CoinGlass base assets of the coin (MATIC is POL on most exchanges); default
    [coin]. `exchanges`: only these (case-insensitive); default all stored."""
    assets = sorted({s.upper() for s in (symbols or [coin])})
    t = liquidation_orders.c
    query = select(
        func.coalesce(func.sum(case((t.side == SIDE_LONG, t.vol_usd), else_=0.0)), 0.0),
        func.coalesce(func.sum(case((t.side == SIDE_SHORT, t.vol_usd), else_=0.0)), 0.0),
    ).where(
        t.base_asset.in_(assets),
        t.time_ms >= to_epoch_ms(bar_open),
        t.time_ms < to_epoch_ms(bar_close),
    )
    if exchanges:
        query = query.where(func.lower(t.exchange).in_(sorted({e.strip().lower() for e in exchanges})))
    with engine.connect() as conn:
        long_usd, short_usd = conn.execute(query).one()
    return float(cast(float, long_usd)), float(cast(float, short_usd))
