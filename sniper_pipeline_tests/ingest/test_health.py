"""The daily health check against the replay server: ok, slow, and an error code with HTTP 200."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from sniper_pipeline.coinglass.client import CoinGlassClient
from sniper_pipeline.ingest import health
from sniper_pipeline.ingest.runtime import Runtime, load_runtime
from sniper_pipeline.replay.recordings import recordings_end
from sniper_pipeline.replay.server import ReplayServer
from sniper_pipeline.warehouse.engine import make_engine
from sniper_pipeline.warehouse.tables import api_health
from sniper_pipeline.warehouse.url import warehouse_location
from sniper_pipeline_tests.unseen import build_unseen

OI = "/api/futures/open-interest/aggregated-history"
LIQ = "/api/futures/liquidation/aggregated-history"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_unseen(tmp_path_factory.mktemp("health"))


@pytest.fixture
def runtime(folder: Path) -> Runtime:
    return load_runtime(profile="replay", replay_dir=folder)


def _check(folder: Path, runtime: Runtime, faults: str | None) -> list[health.HealthRow]:
    with ReplayServer(folder, quiet=True, now=recordings_end(folder), faults=faults) as server:
        client = CoinGlassClient(server.base_url, "health-key", max_retries=0)
        return health.check_sources(client, runtime)


def test_all_four_layers_pass(folder: Path, runtime: Runtime, duckdb_url: str) -> None:
    rows = _check(folder, runtime, None)
    assert len(rows) == 4 and all(r.ok for r in rows)
    assert all(r.code == "0" and r.http_status == 200 and r.rate_limit_max for r in rows)
    engine = make_engine(warehouse_location(duckdb_url))
    health.record(engine, rows)
    with engine.connect() as conn:
        stored = conn.execute(select(api_health.c.endpoint, api_health.c.ok)).all()
    assert sorted(stored) == sorted((r.endpoint, True) for r in rows)


def test_slow_answer_and_error_code_fail_visibly(folder: Path, runtime: Runtime) -> None:
    rows = _check(folder, runtime, f"timeout=2.2s@{OI}:1,code=40001@{LIQ}:1")
    by_endpoint = {r.endpoint.split("?")[0]: r for r in rows}
    slow, coded = by_endpoint[OI], by_endpoint[LIQ]
    assert not slow.ok and slow.latency_ms >= 2000 and "latency" in slow.detail
    assert not coded.ok and coded.code == "40001" and coded.http_status == 200
    assert "health-key" not in coded.detail
    assert sum(r.ok for r in rows) == 2
