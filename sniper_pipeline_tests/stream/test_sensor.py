"""`liquidation_stream_sensor` with a real store and thresholds file under tmp_path (live profile:
every configured coin on the 1h grid, liquidations from OKX, Binance and Bybit)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from sniper_pipeline.coinglass.clock import FixedClock
from sniper_pipeline.defs.ops.stream_sensor import SENSOR_NAME, build_liquidation_stream_sensor
from sniper_pipeline.ingest.runtime import Runtime, load_runtime
from sniper_pipeline.stream.orders import parse_push
from sniper_pipeline.stream.replay_ws import load_pushes
from sniper_pipeline.stream.store import make_store_engine, write_orders
from sniper_pipeline.stream.thresholds import thresholds_path, write_thresholds
from sniper_pipeline.warehouse.url import warehouse_location
from sniper_pipeline_tests.stream.conftest import FIXTURE

NOW = FixedClock(datetime(2025, 6, 30, 16, 30, tzinfo=UTC))  # inside the 16:00 1h bar
BAR = "2025-06-30T16:00:00+00:00"


@pytest.fixture
def live_runtime(project_env: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    monkeypatch.setenv("SNIPER_STREAM_URL", f"sqlite:///{project_env / 'stream.sqlite'}")
    warehouse = warehouse_location(f"duckdb:///{project_env / 'never-opened.duckdb'}")
    return load_runtime(profile="live", warehouse=warehouse)


def _fill_store() -> None:
    """Every order of the hand-written stream, unfiltered: the sensor must apply exchange_list."""
    engine = make_store_engine()
    orders = [o for push in load_pushes(FIXTURE) for o in (parse_push(push) or ([], 0))[0]]
    write_orders(engine, orders)
    engine.dispose()


def _thresholds(mapping: dict[str, float | None]) -> None:
    write_thresholds(
        thresholds_path(), {c: {"liq_total_action_usd": v, "interval": "1h"} for c, v in mapping.items()}
    )


def _tick(runtime: Runtime, cursor: str | None = None) -> dg.SensorResult | dg.SkipReason:
    sensor = build_liquidation_stream_sensor(runtime, clock=NOW)
    result = sensor(dg.build_sensor_context(cursor=cursor))
    assert isinstance(result, dg.SensorResult | dg.SkipReason)
    return result


def test_requests_a_scan_when_the_bar_passes_the_threshold(live_runtime: Runtime) -> None:
    _fill_store()
    # 16:00 bar on OKX/Binance/Bybit: BTC 445,000.5; ETH 75,000; SOL 8,000; POL (MATIC) 1,500.
    _thresholds({"BTC": 440_000.0, "ETH": 100_000.0, "SOL": 8_000.0, "MATIC": 1_000.0, "DOGE": None})
    result = _tick(live_runtime)
    assert isinstance(result, dg.SensorResult)
    requests = result.run_requests or []
    assert [(r.run_key, r.partition_key) for r in requests] == [
        (f"stream|BTC|{BAR}", "BTC"),
        (f"stream|MATIC|{BAR}", "MATIC"),
    ]
    assert requests[0].tags["sniper/bar"] == BAR
    assert requests[0].tags["sniper/stream_liq_usd"] == "445000"
    assert json.loads(result.cursor or "") == {"BTC": BAR, "MATIC": BAR}

    # The next tick in the same bar asks for nothing more.
    again = _tick(live_runtime, result.cursor)
    assert isinstance(again, dg.SensorResult) and not again.run_requests
    assert again.cursor == result.cursor


def test_only_the_liquidation_sources_exchanges_count(live_runtime: Runtime) -> None:
    _fill_store()
    # 999,999 on Hyperliquid would pass 450,000; OKX/Binance/Bybit alone (445,000.5) do not.
    _thresholds({"BTC": 450_000.0})
    result = _tick(live_runtime)
    assert isinstance(result, dg.SensorResult) and not result.run_requests


def test_no_thresholds_file_no_requests(live_runtime: Runtime) -> None:
    _fill_store()
    result = _tick(live_runtime)
    assert isinstance(result, dg.SkipReason)
    assert "no thresholds yet" in (result.skip_message or "")


def test_no_store_no_requests_and_nothing_created(live_runtime: Runtime, project_env: Path) -> None:
    _thresholds({"BTC": 1.0})
    result = _tick(live_runtime)
    assert isinstance(result, dg.SkipReason)
    assert "no stream store" in (result.skip_message or "")
    assert not (project_env / "stream.sqlite").exists()
    assert not (project_env / "never-opened.duckdb").exists()  # the warehouse is never touched


def test_a_broken_thresholds_file_is_reported(live_runtime: Runtime) -> None:
    _fill_store()
    path = thresholds_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{broken")
    result = _tick(live_runtime)
    assert isinstance(result, dg.SkipReason) and "not JSON" in (result.skip_message or "")


def test_the_code_location_runs_it(live_runtime: Runtime) -> None:
    from sniper_pipeline.definitions import build_defs

    sensor = build_defs(live_runtime).resolve_sensor_def(SENSOR_NAME)
    assert sensor.job_name == "coin_scan_job"
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == 30
