"""Keep a DuckDB warehouse open in this process while a run's steps use it.

Engines use NullPool (the file is locked by whichever process holds a connection), so every use
connects and disconnects. Opening a DuckDB file costs 15-25 ms and closing the last connection
checkpoints it; a scan connects ~70 times. While one connection of this process stays open,
DuckDB's database instance stays loaded and a new connection to the same file costs ~0.05 ms.

`kept_open` holds such a connection for a block (a run: the warehouse resource's lifetime);
`released` lets go of it for a block that needs the file in another process (the dbt build).
Both are no-ops for PostgreSQL and in-memory DuckDB. Process-wide, like DuckDB's own instance
cache, and counted, so nested holders share one connection.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from sniper_pipeline.warehouse.engine import make_engine
from sniper_pipeline.warehouse.url import WarehouseLocation


@dataclass
class _Held:
    engine: Engine
    holders: int = 0
    connection: Connection | None = None


_held: dict[str, _Held] = {}
_lock = threading.Lock()


def _key(location: WarehouseLocation) -> str:
    return str(location.duckdb_path.resolve())


@contextmanager
def kept_open(location: WarehouseLocation) -> Iterator[None]:
    """Hold the DuckDB file open in this process for the block."""
    if not location.is_file:
        yield
        return
    key = _key(location)
    with _lock:
        # The same URL and driver options as every engine: DuckDB refuses a second connection
        # to an open database with another configuration.
        held = _held.setdefault(key, _Held(make_engine(location, create_tables=False)))
        held.holders += 1
        if held.connection is None:
            held.connection = held.engine.connect()
    try:
        yield
    finally:
        with _lock:
            held.holders -= 1
            if held.holders == 0:
                _close(held)
                del _held[key]


@contextmanager
def released(location: WarehouseLocation) -> Iterator[None]:
    """Let go of the file for the block (another process needs it), then hold it again."""
    with _lock:
        held = _held.get(_key(location)) if location.is_file else None
        if held is not None:
            _close(held)
    try:
        yield
    finally:
        if held is not None:
            with _lock:
                if held.holders > 0 and held.connection is None:
                    held.connection = held.engine.connect()


def _close(held: _Held) -> None:
    if held.connection is not None:
        held.connection.close()
        held.connection = None
