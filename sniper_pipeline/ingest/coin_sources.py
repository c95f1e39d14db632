"""The per-coin source choice as a table, so dbt reads it (and lineage shows it) instead of vars."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, insert, select

from sniper_pipeline.ingest.sources import CoinPlan
from sniper_pipeline.warehouse.tables import coin_layer_sources


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


_KEY = ("coin", "layer", "source_key", "interval", "grid_interval")


def store_coin_sources(engine: Engine, coins: list[str], rows: list[dict[str, Any]]) -> bool:
    """Replace these coins' rows in one transaction when the choice changed (other coins are
    untouched); True when it did. An unchanged choice keeps its `chosen_at`."""
    table = coin_layer_sources
    with engine.begin() as conn:
        stored = conn.execute(select(*(table.c[k] for k in _KEY)).where(table.c.coin.in_(coins))).all()
        if {tuple(r) for r in stored} == {tuple(row[k] for k in _KEY) for row in rows}:
            return False
        conn.execute(delete(table).where(table.c.coin.in_(coins)))
        if rows:
            conn.execute(insert(table), rows)
    return True
