"""Table definitions of the warehouse contract (design.md section 5). Times are naive UTC."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Double,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    event,
    text,
)

metadata = MetaData()


def _series(name: str, *value_columns: Column) -> Table:
    """A raw time series keyed (coin, source_key, interval, ts)."""
    return Table(
        name,
        metadata,
        Column("coin", String, primary_key=True),
        Column("source_key", String, primary_key=True),
        Column("interval", String, primary_key=True),
        Column("ts", DateTime, primary_key=True, comment="bar open, UTC"),
        *value_columns,
        Column("is_closed", Boolean, nullable=False),
        Column("ingested_at", DateTime, nullable=False),
    )


raw_funding = _series(
    "raw_funding",
    Column("exchange", String, comment="null for the OI-weighted coin series"),
    Column("symbol", String),
    Column("open_pct", Double, comment="PERCENT per settlement interval"),
    Column("high_pct", Double),
    Column("low_pct", Double),
    Column("close_pct", Double),
)
raw_open_interest = _series(
    "raw_open_interest",
    Column("open", Double),
    Column("high", Double),
    Column("low", Double),
    Column("close", Double),
    Column("unit", String, nullable=False, comment="usd or coin: the request's unit param (absent: usd)"),
)
raw_liquidations = _series(
    "raw_liquidations",
    Column("long_liquidation_usd", Double),
    Column("short_liquidation_usd", Double),
)
raw_taker_volume = _series(
    "raw_taker_volume",
    Column("buy_volume", Double),
    Column("sell_volume", Double),
    Column(
        "value_unit",
        String,
        nullable=False,
        comment="usd or base_coin: per endpoint, and unit=coin on aggregated taker history",
    ),
)
raw_prices = _series(
    "raw_prices",
    Column("open_usd", Double),
    Column("high_usd", Double),
    Column("low_usd", Double),
    Column("close_usd", Double),
    Column("volume_usd", Double),
)
raw_etf_flows = Table(
    "raw_etf_flows",
    metadata,
    Column("ts", DateTime, primary_key=True, comment="trading day, UTC"),
    Column("flow_usd", Double, comment="null when the day is not published"),
    Column("price_usd", Double),
    Column("etf_flows_json", Text, comment="per-ticker flows (USD) as JSON"),
    Column("is_published", Boolean, nullable=False),
    Column("ingested_at", DateTime, nullable=False),
)
instruments = Table(
    "instruments",
    metadata,
    Column("exchange", String, primary_key=True),
    Column("instrument_id", String, primary_key=True),
    Column("base", String),
    Column("quote", String),
    Column("first_seen_at", DateTime, nullable=False),
    Column("last_seen_at", DateTime, nullable=False),
)
raw_funding_intervals = Table(
    "raw_funding_intervals",
    metadata,
    Column("coin", String, primary_key=True),
    Column("exchange", String, primary_key=True),
    Column("margin", String, primary_key=True, comment="stablecoin or token"),
    Column("interval_hours", Double, primary_key=True),
    Column("first_seen_at", DateTime, nullable=False),
)
raw_liquidation_exchanges = Table(
    "raw_liquidation_exchanges",
    metadata,
    Column("coin", String, primary_key=True),
    Column("range", String, primary_key=True),
    Column("exchange", String, primary_key=True),
    Column("captured_at", DateTime, primary_key=True),
    Column("liquidation_usd", Double),
    Column("long_liquidation_usd", Double),
    Column("short_liquidation_usd", Double),
)
api_health = Table(
    "api_health",
    metadata,
    Column("checked_at", DateTime, primary_key=True),
    Column("endpoint", String, primary_key=True),
    Column("http_status", Integer),
    Column("code", String),
    Column("latency_ms", Double),
    Column("rate_limit_used", Integer),
    Column("rate_limit_max", Integer),
    Column("ok", Boolean, nullable=False),
    Column("detail", Text),
)

# -- signals and alerting (engine output, delivery state) ------------------------------------------

alert_events = Table(
    "alert_events",
    metadata,
    Column("dedup_key", String, primary_key=True, comment="coin|episode_id|event|tier"),
    Column("coin", String, nullable=False),
    Column("episode_id", String, nullable=False),
    Column("event", String, nullable=False, comment="open, upgrade, escalate, close, anti_flip_suppressed"),
    Column("tier", String, nullable=False, comment="watch or action (close: the last tier)"),
    Column("direction", String, nullable=False, comment="up, down or mixed"),
    Column("bar_ts", DateTime, nullable=False, comment="open of the bar that decided the event, UTC"),
    Column("interval", String, nullable=False),
    Column("layers_json", Text, comment="triggered layers: value, threshold in force, level"),
    Column("decided_at", DateTime, nullable=False, comment="wall clock when first written"),
    Column("run_id", String),
)
outbox = Table(
    "outbox",
    metadata,
    Column("dedup_key", String, primary_key=True),
    Column("channel", String, primary_key=True, comment="a redacted channel id, never the URL's secrets"),
    Column(
        "status",
        String,
        nullable=False,
        comment="pending, attempting, delivered, digested, in_doubt, historical, muted, not_sent, failed",
    ),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime, comment="pending: when due; attempting: lease end"),
    Column("last_error", Text),
    Column("delivered_at", DateTime),
    Column("created_at", DateTime, nullable=False),
    # Added after the first release: see `_add_outbox_columns` (existing warehouses).
    Column("attempted_at", DateTime, comment="when the last send was started"),
    Column("idempotency_key", String, comment="sent as Idempotency-Key where the channel can carry it"),
)
# Columns `outbox` gained after warehouses existed; nullable, so old rows stay valid.
OUTBOX_ADDED_COLUMNS = ("attempted_at", "idempotency_key")


def add_missing_columns(conn: Connection, table: Table, names: tuple[str, ...]) -> list[str]:
    """Add the named columns of `table` that an existing table lacks (`create_all` creates
    missing tables only). A table that does not exist is left to `create_all`. Returns the
    columns added. Works on DuckDB and PostgreSQL (information_schema, ADD COLUMN)."""
    present = {
        str(name)
        for (name,) in conn.execute(
            text(
                "select column_name from information_schema.columns "
                "where table_name = :name and table_schema = current_schema()"
            ),
            {"name": table.name},
        )
    }
    if not present:
        return []
    preparer = conn.dialect.identifier_preparer
    added = []
    for name in names:
        if name in present:
            continue
        column = table.c[name]
        conn.execute(
            text(
                f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN IF NOT EXISTS "
                f"{preparer.format_column(column)} {column.type.compile(dialect=conn.dialect)}"
            )
        )
        added.append(name)
    return added


@event.listens_for(metadata, "after_create")
def _add_outbox_columns(target: MetaData, connection: Connection, **kw: Any) -> None:
    # Runs after every `metadata.create_all` (make_engine; on PostgreSQL under the DDL lock), so
    # an outbox created before these columns existed gets them before anything reads it.
    add_missing_columns(connection, outbox, OUTBOX_ADDED_COLUMNS)


mutes = Table(
    "mutes",
    metadata,
    Column("scope", String, primary_key=True, comment="'*' for every coin, else the coin"),
    Column("until", DateTime, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("reason", Text),
)
percentile_configs = Table(
    "percentile_configs",
    metadata,
    Column("coin", String, primary_key=True),
    Column("interval", String, primary_key=True, comment="the coin's grid interval"),
    Column("metric", String, primary_key=True, comment="e.g. funding_abs_bps_8h, taker_ratio"),
    Column("band", String, primary_key=True, comment="high or low"),
    Column("data_through", DateTime, primary_key=True, comment="last closed bar in the window"),
    Column("sources_hash", String, primary_key=True),
    Column("params_hash", String, primary_key=True),
    Column("unit", String),
    Column("p_watch", Double),
    Column("p_action", Double),
    Column("p_extreme", Double),
    Column("percentiles", String, comment="e.g. 85/95/99"),
    Column("lookback_bars", Integer),
    Column("n_bars", Integer),
    Column("oi_unit", String),
    Column("data_from", DateTime),
    Column("generated_at", DateTime, nullable=False),
)
coin_layer_sources = Table(
    "coin_layer_sources",
    metadata,
    Column("coin", String, primary_key=True),
    Column("layer", String, primary_key=True, comment="funding, open_interest, liquidation, taker, price"),
    Column("source_key", String, nullable=False, comment="endpoint?params of the raw series used"),
    Column("interval", String, nullable=False, comment="the source's bar interval"),
    Column("grid_interval", String, nullable=False, comment="the coin's scoring grid"),
    Column("chosen_at", DateTime, nullable=False),
    comment="Per coin and layer, the raw series fct_layer_bars reads (written by the scan).",
)
