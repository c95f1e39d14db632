"""Shared pieces of the stream tests: the hand-written stream, stores on SQLite and PostgreSQL,
and a way to run the client until a condition holds (no fixed sleeps)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from sniper_pipeline.stream.client import LiquidationStreamClient, StreamStats
from sniper_pipeline.stream.store import make_store_engine

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "stream" / "liquidations.jsonl"
EXCHANGES = ["OKX", "Binance", "Bybit"]  # the live liquidation source's exchange_list
SECRET = "SeCrEt-KEY-0123456789abcdef"
DISTINCT_KEPT = 11  # distinct orders of the fixture on EXCHANGES (see its README)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on both stores."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'stream.sqlite'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(store_db_url: str) -> Iterator[Engine]:
    engine = make_store_engine(store_db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Engine]:
    engine = make_store_engine(f"sqlite:///{tmp_path / 'stream.sqlite'}")
    yield engine
    engine.dispose()


async def fast_sleep(delays: list[float], delay: float) -> None:
    """The backoff's sleep in tests: record the delay, do not wait it."""
    delays.append(delay)
    await asyncio.sleep(0.005)


def run_until(client: LiquidationStreamClient, done: Callable[[], bool], timeout: float = 8.0) -> StreamStats:
    """Run the client until `done()` holds (checked every 20 ms) or `timeout` passes."""

    async def main() -> StreamStats:
        stop = asyncio.Event()

        async def watch() -> None:
            while not done():
                await asyncio.sleep(0.02)
            stop.set()

        watcher = asyncio.create_task(watch())
        try:
            return await client.run(stop=stop, max_seconds=timeout)
        finally:
            watcher.cancel()

    stats = asyncio.run(main())
    assert done(), f"condition not reached within {timeout} s: {stats}"
    return stats
