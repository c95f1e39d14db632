"""SQLAlchemy engines. NullPool everywhere: a DuckDB file is locked by whichever process holds a
connection, so every use connects, works and disconnects (design.md section 6)."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

from sniper_pipeline.warehouse.tables import metadata
from sniper_pipeline.warehouse.url import WarehouseLocation, warehouse_location

_DDL_LOCK_ID = 7_243_001  # any constant shared by every process of this project


def lock_ddl(conn: Connection) -> None:
    """On PostgreSQL, serialise table creation for the rest of the transaction: two runs creating
    the same table at once collide in pg_type even with IF NOT EXISTS. DuckDB has one writer."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("select pg_advisory_xact_lock(:id)"), {"id": _DDL_LOCK_ID})


def make_engine(location: WarehouseLocation | None = None, *, create_tables: bool = True) -> Engine:
    location = location or warehouse_location()
    engine = create_engine(location.url, poolclass=NullPool, future=True)
    if create_tables:
        with engine.begin() as conn:
            lock_ddl(conn)
            metadata.create_all(conn)
    return engine
