"""SQLAlchemy engines. NullPool everywhere: a DuckDB file is locked by whichever process holds a
connection, so every use connects, works and disconnects (design.md section 6). A run keeps its
DuckDB file open for its steps (`kept_open`); another process that needs the file meanwhile (a
CLI command during a served scan) waits for it instead of failing at once."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.pool import NullPool

from sniper_pipeline.warehouse.run_lock import WarehouseBusyError
from sniper_pipeline.warehouse.tables import metadata
from sniper_pipeline.warehouse.url import WarehouseLocation, warehouse_location

_DDL_LOCK_ID = 7_243_001  # any constant shared by every process of this project
DUCKDB_LOCK_WAIT_S = 60.0  # longer than a scan's steps between dbt builds
_LOCK_POLL_S = 0.1
_LOCK_CONFLICT = "Could not set lock on file"


def lock_ddl(conn: Connection) -> None:
    """On PostgreSQL, serialise table creation for the rest of the transaction: two runs creating
    the same table at once collide in pg_type even with IF NOT EXISTS. DuckDB has one writer."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("select pg_advisory_xact_lock(:id)"), {"id": _DDL_LOCK_ID})


def _wait_for_file_lock(engine: Engine, location: WarehouseLocation, wait_s: float) -> None:
    """Connects retry while another process holds the DuckDB file, up to `wait_s`; then a
    WarehouseBusyError naming the holder (the CLI prints it in one line)."""

    @event.listens_for(engine, "do_connect")
    def connect(dialect: Any, record: Any, cargs: Any, cparams: Any) -> Any:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                return dialect.connect(*cargs, **cparams)
            except Exception as exc:
                message = str(exc)
                if _LOCK_CONFLICT not in message:
                    raise
                if time.monotonic() >= deadline:
                    holder = message.split("Conflicting lock is held in", 1)[-1].split(". See", 1)[0]
                    raise WarehouseBusyError(
                        f"the warehouse {location.redacted()} is held by another process "
                        f"({holder.strip()}) for over {wait_s:g} s; try again when its run ends"
                    ) from None
                time.sleep(_LOCK_POLL_S)


def make_engine(
    location: WarehouseLocation | None = None,
    *,
    create_tables: bool = True,
    lock_wait_s: float = DUCKDB_LOCK_WAIT_S,
) -> Engine:
    location = location or warehouse_location()
    engine = create_engine(location.url, poolclass=NullPool, future=True)
    if location.is_file:
        _wait_for_file_lock(engine, location, lock_wait_s)
    if create_tables:
        with engine.begin() as conn:
            lock_ddl(conn)
            metadata.create_all(conn)
    return engine
