"""The celery profile's settings: SNIPER_EXECUTOR picks the executor, a scan is split into runs of
`coins_per_run` coins, the shared limiter moves to Redis; in process nothing changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sniper_pipeline.defs.ingest.partitions import coin_ranges
from sniper_pipeline.defs.ingest.resources import CoinGlassResource
from sniper_pipeline.defs.ops.jobs import celery_config_path, celery_executor_config
from sniper_pipeline.defs.ops.sensors import scan_run_requests
from sniper_pipeline.ingest.runtime import load_executor
from sniper_pipeline.ingest.scan_cursor import ScanRequest
from sniper_pipeline.settings.errors import ConfigError

COINS = [f"U{i:03d}" for i in range(1, 26)]


def test_ranges_hold_at_most_max_coins() -> None:
    assert coin_ranges(COINS, COINS, 10) == [("U001", "U010"), ("U011", "U020"), ("U021", "U025")]
    # Gaps still cut a range; a split range restarts its count.
    due = [c for c in COINS if c not in ("U004",)][:12]
    assert coin_ranges(COINS, due, 2) == [
        ("U001", "U002"),
        ("U003", "U003"),
        ("U005", "U006"),
        ("U007", "U008"),
        ("U009", "U010"),
        ("U011", "U012"),
        ("U013", "U013"),
    ]
    assert coin_ranges(COINS, COINS) == coin_ranges(COINS, COINS, None) == [("U001", "U025")]


def test_the_sensor_asks_one_run_per_chunk() -> None:
    bar = datetime(2025, 6, 30, 16, tzinfo=UTC)
    runs = scan_run_requests([ScanRequest(coin=c, bar_open=bar) for c in COINS], COINS, 10)
    assert [r.run_key for r in runs] == [
        f"{s}..{e}|{bar.isoformat()}" for s, e in coin_ranges(COINS, COINS, 10)
    ]


CELERY_ENV = {
    "SNIPER_EXECUTOR": "celery",
    "SNIPER_CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "SNIPER_CELERY_BACKEND_URL": "redis://127.0.0.1:6379/1",
}


def test_in_process_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (*CELERY_ENV, "SNIPER_COINS_PER_RUN", "SNIPER_RATE_LIMIT_URL"):
        monkeypatch.delenv(var, raising=False)
    assert load_executor(uses_duckdb=True) == ("in_process", None, None)


def test_celery_defaults_and_refusals(monkeypatch: pytest.MonkeyPatch) -> None:
    for var, value in CELERY_ENV.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("SNIPER_COINS_PER_RUN", raising=False)
    monkeypatch.delenv("SNIPER_RATE_LIMIT_URL", raising=False)
    # The broker's Redis holds the shared limiter unless told otherwise; 10 coins per run.
    assert load_executor(uses_duckdb=False) == ("celery", 10, "SNIPER_CELERY_BROKER_URL")
    monkeypatch.setenv("SNIPER_COINS_PER_RUN", "0")
    monkeypatch.setenv("SNIPER_RATE_LIMIT_URL", "redis://limiter:6379/2")
    assert load_executor(uses_duckdb=False) == ("celery", None, "SNIPER_RATE_LIMIT_URL")
    with pytest.raises(ConfigError, match="PostgreSQL warehouse"):
        load_executor(uses_duckdb=True)
    monkeypatch.delenv("SNIPER_CELERY_BACKEND_URL")
    with pytest.raises(ConfigError, match="SNIPER_CELERY_BACKEND_URL"):
        load_executor(uses_duckdb=False)
    monkeypatch.setenv("SNIPER_EXECUTOR", "k8s")
    with pytest.raises(ConfigError, match="SNIPER_EXECUTOR"):
        load_executor(uses_duckdb=False)


def test_workers_and_runs_read_one_config_file() -> None:
    config = celery_executor_config(celery_config_path())
    # Broker and backend come from the environment, never written in the file.
    assert config["broker"] == {"env": "SNIPER_CELERY_BROKER_URL"}
    assert config["backend"] == {"env": "SNIPER_CELERY_BACKEND_URL"}
    # A step is acknowledged when it ends: a dead worker's step goes to another worker.
    assert config["config_source"]["task_acks_late"] is True
    # ... after the visibility timeout, plus at most the restore lock's expiry when the dead
    # worker held that lock: well below Kombu's 300 s default.
    transport = config["config_source"]["broker_transport_options"]
    assert transport["unacked_mutex_expire"] < transport["visibility_timeout"] / 10


def test_limiter_follows_the_url(tmp_path: object) -> None:
    resource = CoinGlassResource(
        base_url="http://127.0.0.1:9", api_key="k", rate_limit_state=f"{tmp_path}/s.json"
    )
    assert type(resource.limiter()).__name__ == "FileRateLimiter"
    shared = CoinGlassResource(
        base_url="http://127.0.0.1:9", api_key="k", rate_limit_url="redis://127.0.0.1:9/0"
    )
    assert type(shared.limiter()).__name__ == "RedisRateLimiter"  # no connection until first use
