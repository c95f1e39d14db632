"""The per-coin source choice as a table, so dbt reads it (and lineage shows it) instead of vars."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, select

from sniper_pipeline.ingest.sources import CoinPlan
from sniper_pipeline.warehouse.tables import coin_layer_sources
from sniper_pipeline.warehouse.upsert import upsert


def coin_source_rows(
    plans: Mapping[str, CoinPlan], coins: Iterable[str], now: datetime
) -> list[dict[str, Any]]:
    """One row per coin and layer that has a source; coins without a grid have nothing to score."""
    rows: list[dict[str, Any]] = []
    for coin in coins:
        plan = plans[coin]
        if plan.grid_interval is None:
            continue
        for layer, source in sorted(plan.sources.items()):
            if source is not None:
                rows.append(
                    {
                        "coin": coin,
                        "layer": layer,
                        "source_key": source.source_key,
                        "interval": source.interval,
                        "grid_interval": plan.grid_interval,
                        "chosen_at": now,
                    }
                )
    return rows


def store_coin_sources(engine: Engine, coins: list[str], rows: list[dict[str, Any]]) -> bool:
    """Make these coins' rows equal `rows` in one transaction (other coins are untouched); True
    when something changed. An unchanged choice keeps its `chosen_at`.

    An upsert plus a delete of the (coin, layer) pairs no longer chosen, not delete-then-insert:
    two runs of one coin at once (a scheduled scan and a sensor's) would both insert the same
    keys, and the second would fail on the primary key."""
    table = coin_layer_sources
    kept = {(row["coin"], row["layer"]) for row in rows}
    with engine.begin() as conn:
        stored = conn.execute(select(table.c.coin, table.c.layer).where(table.c.coin.in_(coins))).all()
        stale = [(coin, layer) for coin, layer in stored if (coin, layer) not in kept]
        for coin, layer in stale:
            conn.execute(delete(table).where(table.c.coin == coin, table.c.layer == layer))
        stats = upsert(conn, table, rows, compare_ignore=("chosen_at",))
    return bool(stale) or stats.new + stats.updated > 0
