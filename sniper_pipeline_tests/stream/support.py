"""Reading the stream store back, for the tests (the pipeline reads it only through `bar_totals`)."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from sniper_pipeline.stream.orders import LiquidationOrder
from sniper_pipeline.stream.store import liquidation_orders


def count_orders(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(liquidation_orders)).scalar_one())


def read_orders(engine: Engine, coin: str | None = None) -> list[LiquidationOrder]:
    """Stored orders in time order."""
    t = liquidation_orders.c
    query = select(t.exchange, t.symbol, t.base_asset, t.side, t.price, t.vol_usd, t.time_ms).order_by(
        t.time_ms, t.order_id
    )
    if coin is not None:
        query = query.where(t.base_asset == coin.upper())
    with engine.connect() as conn:
        return [
            LiquidationOrder(r.exchange, r.symbol, r.base_asset, int(r.side), r.price, r.vol_usd, r.time_ms)
            for r in conn.execute(query)
        ]
