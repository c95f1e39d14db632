"""Scale-out on Dagster's Celery integration, with real processes on loopback: Redis (broker,
result backend, shared rate limiter), PostgreSQL (Dagster storage and warehouse) and two Celery
workers started with `dagster-celery worker start`.

A synthetic universe is scanned as several partition-range runs (SNIPER_COINS_PER_RUN), their
steps executed by the workers; one worker is killed (SIGKILL to its process group) while it runs
a step. Checked: every coin was scanned, steps ran on both workers, the killed worker's step was
taken over by the other (acks_late + Redis visibility timeout), the replay server's rate limit
answered no 429 (one budget in Redis for both workers), and the warehouse equals an in-process
scan's, table by table and row by row."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from benchmarks.celery_stack import (
    celery_config,
    celery_env,
    ended_steps,
    event_rows,
    fresh_database,
    kill_group,
    launch_scan,
    prepare,
    replay_process_env,
    start_worker,
    steps_on_workers,
    wait_all,
)
from sniper_pipeline.defs.ingest.partitions import coin_ranges
from sniper_pipeline.replay.recordings import recordings_end
from sniper_pipeline.replay.sample import sample_dir
from sniper_pipeline.replay.server import ReplayServer
from sniper_pipeline.replay.universe import build_universe
from sniper_pipeline.settings.paths import config_dir

# 20 coins in two runs of 10 (each worker has a step to take most of the time) and a backfill of
# 30 days, not 40 coins of 365 days: the whole suite must stay fast on 2 cores, and the
# visibility timeout below (which the kill costs in full) must exceed the longest step.
# The scale-out tested is the same; benchmarks/scale.py scans 100 coins.
N_COINS = 20
COINS_PER_RUN = 10
HISTORY_DAYS = 30
# The replay server's limit (per RATE_WINDOW_S): two workers each with its own bucket at this
# rate would exceed it together; one bucket in Redis keeps both under it.
RATE_LIMIT, RATE_WINDOW_S = 30, 2.0
# A dead worker's step is handed to the other worker after this long: above the longest step
# here (raw_layers or dbt: 13-25 s while other tests load both cores) or a slow step would be
# handed out twice. The survivor needs about this long after the kill to finish its own run's
# steps, so a shorter timeout would barely end the test sooner (60 s left it idle for ~20 s).
VISIBILITY_TIMEOUT_S = 45
# Steps that take long enough to be killed in the middle of.
LONG_STEPS = ("raw_layers", "coinglass_dbt")
COMPARED_TABLES = (
    "raw_funding",
    "raw_open_interest",
    "raw_liquidations",
    "raw_taker_volume",
    "raw_prices",
    "coin_layer_sources",
    "fct_layer_bars",
    "percentile_configs",
    "layer_signals",
    "confluence_signals",
    "alert_events",
    "outbox",
)
# Stamped with the wall clock or the run: they differ between any two runs.
VOLATILE_SUFFIXES = ("_at",)
VOLATILE = {"run_id"}
# Distinctive, so a leak is found by substring search (the replay server accepts any key).
SECRET = "cg-celery-key-5d1e8a70c2b94f3e"


def _short_history_config(target: Path) -> Path:
    shutil.copytree(config_dir(), target)
    layers = target / "layers.yaml"
    text = layers.read_text()
    assert "history_days: 365" in text
    layers.write_text(text.replace("history_days: 365", f"history_days: {HISTORY_DAYS}"))
    return target


def _tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_engine(url, poolclass=NullPool)
    names = set(inspect(engine).get_table_names())
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in COMPARED_TABLES:
            if table not in names:
                out[table] = []
                continue
            result = conn.execute(text(f'select * from "{table}"'))
            keep = [
                i
                for i, c in enumerate(result.keys())
                if c not in VOLATILE and not c.endswith(VOLATILE_SUFFIXES)
            ]
            out[table] = sorted((tuple(row[i] for i in keep) for row in result.all()), key=repr)
    engine.dispose()
    return out


def _event_log_text(url: str) -> list[str]:
    return [str(r[0]) for r in event_rows(url, "select event from event_logs")]


def _redis_values(url: str) -> list[tuple[bytes, bytes]]:
    """Every string, list and hash value in the broker's and the backend's databases."""
    import redis

    out = []
    for db in (0, 1):
        client = redis.Redis.from_url(f"{url}/{db}")
        for key in client.scan_iter():
            kind = client.type(key)
            if kind == b"string":
                out.append((key, client.get(key) or b""))
            elif kind == b"list":
                out.extend((key, v) for v in client.lrange(key, 0, -1))
            elif kind == b"hash":
                out.extend((key, v) for v in client.hvals(key))
        client.close()
    return out


def _materialized_coins(url: str) -> dict[str, set[str]]:
    """Per asset, the coins (partitions) a successful step of the scan materialized."""
    rows = event_rows(
        url,
        "select asset_key, partition from event_logs "
        "where dagster_event_type = 'ASSET_MATERIALIZATION' and partition is not null",
    )
    out: dict[str, set[str]] = {}
    for key, partition in rows:
        out.setdefault(json.loads(key)[0] if key.startswith("[") else key, set()).add(partition)
    return out


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_two_celery_workers_scan_a_universe_and_survive_a_kill(
    pg_admin_url: str, pg_url: str, redis_url: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    folder = tmp_path / "universe"
    coins = build_universe(sample_dir(), folder, N_COINS)
    now = recordings_end(folder)
    logs = tmp_path / "logs"
    logs.mkdir()
    config = _short_history_config(tmp_path / "config")
    with (
        fresh_database(pg_admin_url) as reference_url,
        ReplayServer(folder, quiet=True, now=now) as reference_server,
        ReplayServer(
            folder, quiet=True, now=now, rate_limit=RATE_LIMIT, rate_window_s=RATE_WINDOW_S
        ) as server,
    ):
        # The reference: the same scan in one in-process run (the default executor).
        reference_env = replay_process_env(
            data_dir=tmp_path / "reference",
            base_url=reference_server.base_url,
            api_key=SECRET,
            replay_dir=folder,
            DAGSTER_HOME=str(tmp_path / "reference_home"),
            SNIPER_WAREHOUSE_URL=reference_url,
            SNIPER_CONFIG_DIR=str(config),
        )
        (tmp_path / "reference_home").mkdir()
        reference = launch_scan(reference_env, coins[0], coins[-1], logs / "reference.log")

        env = celery_env(
            replay_process_env(
                data_dir=tmp_path / "data",
                base_url=server.base_url,
                api_key=SECRET,
                replay_dir=folder,
                SNIPER_REQUESTS_PER_MINUTE=str(RATE_LIMIT),
                SNIPER_RATE_WINDOW_SECONDS=str(RATE_WINDOW_S),
                SNIPER_COINS_PER_RUN=str(COINS_PER_RUN),
                SNIPER_CONFIG_DIR=str(config),
            ),
            home=tmp_path / "home",
            pg_url=pg_url,
            redis_url=redis_url,
            config=celery_config(tmp_path / "celery.yaml", visibility_timeout_s=VISIBILITY_TIMEOUT_S),
        )
        prepare(env)
        workers = {name: start_worker(name, env, logs / f"{name}.log") for name in ("w1", "w2")}
        ranges = coin_ranges(coins, coins, COINS_PER_RUN)
        assert len(ranges) == N_COINS // COINS_PER_RUN
        runs = [launch_scan(env, s, e, logs / f"run-{s}.log") for s, e in ranges]
        try:
            # Kill w2 (the whole process group: `dagster-celery`, the Celery worker, its pool
            # child, a dbt subprocess) while it executes a long step.
            killed = None
            deadline = time.monotonic() + 240
            while killed is None and time.monotonic() < deadline:
                ended = ended_steps(pg_url)
                for step in steps_on_workers(pg_url):
                    running = (step.run_id, step.step_key) not in ended
                    if step.worker.startswith("w2@") and step.step_key in LONG_STEPS and running:
                        kill_group(workers["w2"])
                        killed = step
                        break
                time.sleep(0.3)
            assert killed is not None, "w2 never ran a long step"
            killed_at = time.monotonic()
            print(f"killed w2 during {killed.step_key} at {killed_at - started:.1f} s")
            codes = wait_all(runs, timeout_s=300)
            recovered_s = time.monotonic() - killed_at
            assert wait_all([reference], timeout_s=300) == [0], (logs / "reference.log").read_text()[-3000:]
            reference_tables = _tables(reference_url)
        finally:
            for proc in [*workers.values(), *runs, reference]:
                kill_group(proc)
        refused = server.rate.refused
        requests = len(server.request_log)

    for (start, _), code in zip(ranges, codes, strict=True):
        assert code == 0, (logs / f"run-{start}.log").read_text()[-3000:]
    steps = steps_on_workers(pg_url)
    # Both workers took steps; the killed step was executed again by the surviving worker.
    assert {s.worker.split("@")[0] for s in steps} == {"w1", "w2"}
    again = [s for s in steps if (s.run_id, s.step_key) == (killed.run_id, killed.step_key)]
    assert [s.worker.split("@")[0] for s in again] == ["w2", "w1"], again
    # Every coin's steps ran: each coin-partitioned asset was materialized for every coin (the
    # dbt models are one relation over all coins, unpartitioned: the table check below covers them).
    materialized = _materialized_coins(pg_url)
    for asset in ("raw_liquidations", "coin_layer_sources", "percentile_configs", "alert_events"):
        assert materialized.get(asset) == set(coins), asset
    # One budget for both workers: the server never had to refuse.
    assert refused == 0 and requests > 0
    # The warehouse equals the in-process scan's.
    tables = _tables(pg_url)
    for table, rows in reference_tables.items():
        assert tables[table] == rows, table
    assert all(reference_tables[t] for t in ("raw_liquidations", "fct_layer_bars", "layer_signals"))
    # The key travels only in the processes' environment: not in logs, Dagster's event log or
    # Redis (messages and results).
    for log in logs.iterdir():
        assert SECRET not in log.read_text(errors="replace"), log.name
    assert SECRET not in json.dumps(_event_log_text(pg_url))
    assert not [k for k, v in _redis_values(redis_url) if SECRET.encode() in v]
    # A step longer than the visibility timeout is handed out a second time (a busy machine).
    repeated = len(steps) - len({(s.run_id, s.step_key) for s in steps}) - 1
    wall = time.monotonic() - started
    print(f"wall {wall:.1f} s, runs done {recovered_s:.1f} s after the kill, {requests} requests")
    print(f"steps handed out twice (longer than the visibility timeout): {repeated}")
