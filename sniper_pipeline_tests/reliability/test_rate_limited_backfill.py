"""A full backfill of every recorded coin, all coins at once in separate Dagster processes, against
a replay server that enforces a rate limit (its window shortened to keep the test short).

- The shared limiter keeps the key under the server's limit: not one 429 from the server's own
  limit, while the busiest window comes close to it (so the limiter, not idle time, kept it there).
- A 429 storm injected a third of the way in is waited out: every run succeeds, and the tables
  equal those of the same backfill run in process against a server without limit or faults.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from sniper_pipeline.coinglass.client import CoinGlassClient
from sniper_pipeline.ingest.layers import LAYER_TABLES
from sniper_pipeline.ingest.runtime import load_runtime
from sniper_pipeline.replay.recordings import recordings_end
from sniper_pipeline.replay.sample import sample_dir
from sniper_pipeline.replay.server import ReplayServer
from sniper_pipeline.settings.paths import project_dir
from sniper_pipeline.warehouse.engine import make_engine
from sniper_pipeline.warehouse.url import warehouse_location
from sniper_pipeline_tests.conftest import replay_process_env
from sniper_pipeline_tests.ingest.support import ingest_layer
from sniper_pipeline_tests.reliability.support import table_rows

pytestmark = pytest.mark.slow

DAGSTER = str(Path(sys.executable).with_name("dagster"))
LIMIT = 12  # requests per window, as the server counts them
# The API's minute, shortened. The clients' bucket allows at most 11.5 requests per window, so
# a 13th (refused) needs requests delayed ~0.45 s more than the one opening a window; the
# clients keep the window saturated (peak 11) even on a loaded machine.
WINDOW_S = 3.0
STORM = 10  # consecutive 429s (Retry-After 1 s) injected mid-backfill: more than the 5 failure retries
SELECT = ["--select", ",".join(table.name for table in LAYER_TABLES.values()), "--partition"]
# One process per coin is the concurrency under test; steps in that process need no subprocesses.
IN_PROCESS = ["--config-json", json.dumps({"execution": {"config": {"in_process": {}}}})]


def coin_warehouse(root: Path, coin: str) -> str:
    return f"duckdb:///{root / f'{coin}.duckdb'}"


def backfill(coins: list[str], env: dict[str, str], root: Path) -> dict[str, tuple[int, str]]:
    """Every coin's raw layers (GX checks included) at once, one `dagster` process per coin."""
    procs = {}
    for coin in coins:
        home = root / "home" / coin
        home.mkdir(parents=True)
        (home / "dagster.yaml").write_text((project_dir() / "config" / "dagster.yaml").read_text())
        coin_env = {
            **env,
            "DAGSTER_HOME": str(home),
            # One warehouse file per coin: DuckDB is single-process, and the test is about the API.
            "SNIPER_WAREHOUSE_URL": coin_warehouse(root, coin),
        }
        procs[coin] = subprocess.Popen(
            [
                DAGSTER,
                "asset",
                "materialize",
                "-m",
                "sniper_pipeline.definitions",
                *IN_PROCESS,
                *SELECT,
                coin,
            ],
            env=coin_env,
            cwd=project_dir(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    return {
        coin: (proc.wait(timeout=600), proc.stdout.read() if proc.stdout else "")
        for coin, proc in procs.items()
    }


@pytest.fixture(scope="module")
def recordings() -> Path:
    return sample_dir()


def tables(root: Path, coins: list[str]) -> dict[tuple[str, str], list[tuple[Any, ...]]]:
    out = {}
    for coin in coins:
        engine = make_engine(warehouse_location(coin_warehouse(root, coin)))
        for table in LAYER_TABLES.values():
            out[(coin, table.name)] = table_rows(engine, table)
        engine.dispose()
    return out


def reference_backfill(recordings: Path, env: dict[str, str], root: Path) -> tuple[list[str], int]:
    """The same backfill in process against a server without a limit or faults: the coins and
    the number of requests it takes. Its tables are what the limited backfill must equal."""
    root.mkdir()
    with ReplayServer(recordings, quiet=True, now=recordings_end(recordings)) as server:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():  # the config and data folders the subprocesses get
                patch.setenv(name, value)
            runtime = load_runtime(base_url=server.base_url)
        client = CoinGlassClient(server.base_url, "reference")
        client.sync_clock()
        for coin in runtime.partition_keys:
            engine = make_engine(warehouse_location(coin_warehouse(root, coin)))
            for source in runtime.plans[coin].sources.values():
                if source is not None:
                    ingest_layer(
                        client,
                        engine,
                        coin,
                        source,
                        history_days=runtime.layers.history_days,
                        overlap_bars=runtime.layers.overlap_bars,
                    )
            engine.dispose()
        return runtime.partition_keys, len(server.request_log)


def environment(server: ReplayServer, recordings: Path, data_dir: Path) -> dict[str, str]:
    # The plan, as the client is told it; the shared limiter's state lives in data_dir.
    return replay_process_env(
        data_dir=data_dir,
        base_url=server.base_url,
        api_key="rate-limit-test",
        replay_dir=recordings,
        SNIPER_REQUESTS_PER_MINUTE=str(LIMIT),
        SNIPER_RATE_WINDOW_SECONDS=str(WINDOW_S),
    )


def inject_storm_after(server: ReplayServer, requests: int, stop: threading.Event) -> threading.Thread:
    def watch() -> None:
        while not stop.is_set():
            if len(server.request_log) >= requests:
                server.add_faults(f"429=1:{STORM}")
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_rate_limited_backfill_of_every_coin_recovers_from_a_storm(recordings: Path, tmp_path: Path) -> None:
    with ReplayServer(
        recordings, quiet=True, now=recordings_end(recordings), rate_limit=LIMIT, rate_window_s=WINDOW_S
    ) as server:
        env = environment(server, recordings, tmp_path / "data")
        coins, requests = reference_backfill(recordings, env, tmp_path / "reference")
        assert len(coins) >= 2 and requests > 2 * LIMIT, (coins, requests)  # several windows' worth

        stop = threading.Event()
        watcher = inject_storm_after(server, requests // 3, stop)
        try:
            outcomes = backfill(coins, env, tmp_path / "limited")
        finally:
            stop.set()
            watcher.join(timeout=5)
        storm_left = server.injector.remaining()
        refused, peak = server.rate.refused, server.rate.peak

    for coin, (code, output) in outcomes.items():
        assert code == 0, f"{coin}:\n{output[-3000:]}"
    assert storm_left == [0], "the storm was not injected mid-backfill"
    assert refused == 0  # the server's own limit never answered 429, before or after the storm
    assert peak >= LIMIT * 3 // 4  # ... while the backfill pressed against it
    expected = tables(tmp_path / "reference", coins)
    assert all(expected.values()), {k: len(v) for k, v in expected.items()}
    assert tables(tmp_path / "limited", coins) == expected  # 0 rows lost, 0 duplicated
