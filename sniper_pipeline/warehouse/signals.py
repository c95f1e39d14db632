"""Writing the engine's output: per-bar signal tables (replaced per coin), alert events (decided
once, never again), percentile configs (the same inputs add no row)."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, column, delete, inspect, select, text
from sqlalchemy import table as sa_table

from sniper_pipeline.engine import event_layers
from sniper_pipeline.settings.layer import Layer
from sniper_pipeline.settings.timeutil import naive_utc_columns, naive_utc_stamp, naive_utc_times
from sniper_pipeline.warehouse.engine import lock_ddl
from sniper_pipeline.warehouse.tables import alert_events, percentile_configs
from sniper_pipeline.warehouse.upsert import UpsertStats, append_frame, frame_records, upsert

LEVEL_CODES = {"none": 0, "watch": 1, "action": 2, "extreme": 3}


def replace_coin_rows(engine: Engine, table_name: str, coins: list[str], frame: pd.DataFrame) -> int:
    """Swap these coins' rows of a derived table in one transaction (re-runs are idempotent).

    The table follows the frame's columns; when the engine's columns change (other percentiles
    configured), the derived table is rebuilt."""
    frame = naive_utc_columns(frame)
    with engine.begin() as conn:
        lock_ddl(conn)  # the first run of several scans at once creates the table once
        exists = inspect(conn).has_table(table_name)
        if exists:
            # Column names from a zero-row select: duckdb-engine's reflection of columns fails
            # on SQLAlchemy 2.1 (it asks for pg_catalog.pg_collation).
            stored = list(conn.execute(text(f'select * from "{table_name}" limit 0')).keys())
            if stored != list(frame.columns):
                conn.execute(text(f'drop table "{table_name}"'))
            else:
                conn.execute(
                    delete(sa_table(table_name, column("coin"))).where(column("coin").in_(list(coins)))
                )
        if not exists or stored != list(frame.columns):
            frame.head(0).to_sql(table_name, conn, index=False)  # the table, typed from the frame
        append_frame(conn, table_name, frame)
    return len(frame)


def _layers_json(event: dict[str, Any]) -> str:
    layers = {}
    for layer, entry in event_layers(event).items():
        layers[layer] = {
            "value": entry["value"],
            "threshold": entry["threshold"],
            "level": LEVEL_CODES.get(entry["level"], entry["level"]),
            "level_name": entry["level"],
            "unit": Layer.from_prefix(layer).unit,  # event_layers: keyed by column prefix
            **{k: v for k, v in entry.items() if k in ("side", "polarity")},
        }
    return json.dumps(
        layers, allow_nan=False, default=lambda v: None if isinstance(v, float) and math.isnan(v) else v
    )


def insert_alert_events(
    engine: Engine, events: pd.DataFrame, *, run_id: str | None, decided_at: datetime
) -> UpsertStats:
    """Insert events by dedup key; an event already stored is never written again."""
    if events.empty:
        return UpsertStats(0, 0, 0, 0)
    rows = []
    for event in events.to_dict("records"):
        rows.append(
            {
                "dedup_key": event["dedup_key"],
                "coin": event["coin"],
                "episode_id": event["episode_id"],
                "event": event["event"],
                "tier": event["tier"],
                "direction": event["direction"],
                "bar_ts": naive_utc_stamp(event["ts"]).to_pydatetime(),
                "interval": event["interval"],
                "layers_json": _layers_json(event),
                "decided_at": decided_at,
                "run_id": run_id,
            }
        )
    # keep_on_update covers every non-key column: a stored event stays as first decided.
    keep = [c.name for c in alert_events.columns if c.name != "dedup_key"]
    return upsert(engine, alert_events, rows, compare_ignore=keep, keep_on_update=keep)


def store_percentile_config(engine: Engine, config: dict[str, Any], generated_at: datetime) -> UpsertStats:
    frame = pd.DataFrame(config["metrics"])
    if frame.empty:
        return UpsertStats(0, 0, 0, 0)
    frame["percentiles"] = frame["percentiles"].map(lambda p: "/".join(f"{x:g}" for x in p))
    frame["sources_hash"] = config["sources_hash"]
    frame["params_hash"] = config["params_hash"]
    frame["generated_at"] = generated_at
    for name in ("data_from", "data_through"):
        frame[name] = naive_utc_times(frame[name])
    keep = ["generated_at"]
    return upsert(
        engine,
        percentile_configs,
        frame_records(frame, percentile_configs),
        keep_on_update=keep,
        compare_ignore=keep,
    )


def load_alert_events(engine: Engine, coins: list[str]) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(select(alert_events).where(alert_events.c.coin.in_(list(coins))), conn)
