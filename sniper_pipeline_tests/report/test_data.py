"""Loading the report's frames: missing tables, coin filter, latest config and health check."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from sniper_pipeline.report.data import (
    load_report_data,
    redacted_url,
    summary_frame,
    threshold_columns,
)
from sniper_pipeline.warehouse.engine import make_engine
from sniper_pipeline.warehouse.url import warehouse_location
from sniper_pipeline_tests.report.conftest import NOW, START


def test_threshold_columns_are_found_by_name_not_by_default_percentiles() -> None:
    columns = [
        "ts",
        "funding_abs_bps_8h",
        "funding_level",
        "funding_p99_5_bps_8h",
        "funding_p90_bps_8h",
        "funding_p97_5_bps_8h",
        "taker_lo_p1",
        "taker_lo_p15",
        "taker_lo_p5",
        "taker_hi_p85",
    ]
    funding = threshold_columns(columns, "funding")
    assert [(c.column, c.percentile, c.band_level) for c in funding] == [
        ("funding_p90_bps_8h", 90.0, "watch"),
        ("funding_p97_5_bps_8h", 97.5, "action"),
        ("funding_p99_5_bps_8h", 99.5, "extreme"),
    ]
    # The low band counts down: p15 is watch, p1 extreme.
    assert [(c.column, c.band_level) for c in threshold_columns(columns, "taker_lo")] == [
        ("taker_lo_p15", "watch"),
        ("taker_lo_p5", "action"),
        ("taker_lo_p1", "extreme"),
    ]
    assert threshold_columns(columns, "oi_roc") == []


def test_redacted_url_hides_the_password_and_query_values() -> None:
    url = make_url(
        "postgresql+psycopg://sniper:S3cret-pw@db.example:5432/sniper?password=Q-secret&sslmode=require"
    )
    shown = redacted_url(url)
    assert "S3cret-pw" not in shown and "Q-secret" not in shown
    assert "db.example" in shown and "sniper" in shown
    assert redacted_url(make_url("duckdb:////tmp/w.duckdb")) == "duckdb:////tmp/w.duckdb"


def test_a_warehouse_without_any_table_loads_as_nothing(tmp_path: Path) -> None:
    engine = make_engine(warehouse_location(f"duckdb:///{tmp_path / 'empty.duckdb'}"), create_tables=False)
    data = load_report_data(engine)
    assert data.coins == [] and data.layers == {} and data.confluence == {}
    assert data.events is None and data.configs is None and data.health is None and data.etf is None
    assert data.evaluation is None
    assert "layer_signals" in data.missing_tables and "api_health" in data.missing_tables


def test_a_fresh_warehouse_has_empty_tables_but_no_signals(tmp_path: Path) -> None:
    engine = make_engine(warehouse_location(f"duckdb:///{tmp_path / 'fresh.duckdb'}"))
    data = load_report_data(engine)
    assert data.coins == []
    assert data.events is not None and data.events.empty
    assert data.missing_tables == ["layer_signals", "confluence_signals"]


def test_coins_filter_is_case_insensitive(warehouse: Engine) -> None:
    data = load_report_data(warehouse, ["btc"])
    assert data.coins == ["BTC"]
    assert list(data.layers) == ["BTC"] and list(data.confluence) == ["BTC"]
    assert data.events is not None and set(data.events["coin"]) == {"BTC"}
    assert data.configs is not None and set(data.configs["coin"]) == {"BTC"}
    assert data.layers["BTC"]["ts"].is_monotonic_increasing


def test_latest_config_per_coin_and_latest_health_check(warehouse: Engine) -> None:
    data = load_report_data(warehouse)
    assert data.coins == ["BTC", "ETH"]
    assert data.configs is not None
    assert set(data.configs["data_through"]) == {pd.Timestamp(START + timedelta(days=40))}
    assert len(data.configs) == 10 and (data.configs["p_watch"] == 2.0).all()
    assert data.health is not None
    assert len(data.health) == 2 and data.health["ok"].all()
    assert set(data.health["checked_at"]) == {pd.Timestamp(NOW)}


def test_a_coin_with_only_a_config_is_listed(warehouse: Engine) -> None:
    with warehouse.begin() as conn:
        conn.execute(
            text(
                "insert into percentile_configs (coin, interval, metric, band, data_through, sources_hash,"
                " params_hash, generated_at) values ('SOL', '4h', 'liq_total_usd', 'high', :t, 's', 'p', :t)"
            ),
            {"t": NOW},
        )
    data = load_report_data(warehouse)
    assert data.coins == ["BTC", "ETH", "SOL"]
    assert "SOL" not in data.layers


def test_summary_counts_alerts_and_finds_the_open_episode(warehouse: Engine) -> None:
    data = load_report_data(warehouse, ["BTC"])
    assert data.events is not None
    events = data.events
    reached = events[events["event"].isin(["open", "upgrade"])]
    row = summary_frame(data, NOW).iloc[0]
    assert row["bars"] == 300
    assert row["alerts_watch"] == (reached["tier"] == "watch").sum()
    assert row["alerts_action"] == (reached["tier"] == "action").sum()
    assert row["first_bar"] == pd.Timestamp(START)
    assert row["tier_now"] == data.confluence["BTC"]["tier"].iloc[-1]

    # An episode opened, upgraded and never closed is the open one, at its highest tier.
    opened = datetime(2025, 2, 1, 8)
    extra = pd.DataFrame(
        [
            {"coin": "BTC", "episode_id": "BTC|x", "event": "open", "tier": "watch", "bar_ts": opened},
            {"coin": "BTC", "episode_id": "BTC|x", "event": "upgrade", "tier": "action", "bar_ts": opened},
        ]
    )
    data.events = pd.concat([events[events["event"] == "close"], extra], ignore_index=True)
    row = summary_frame(data, NOW).iloc[0]
    assert row["open_episode"] == "action since 2025-02-01 08:00"
