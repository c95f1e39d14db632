"""SQLAlchemy engines. NullPool everywhere: a DuckDB file is locked by whichever process holds a
connection, so every use connects, works and disconnects (design.md section 6)."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from sniper_pipeline.warehouse.tables import metadata
from sniper_pipeline.warehouse.url import WarehouseLocation, warehouse_location


def make_engine(location: WarehouseLocation | None = None, *, create_tables: bool = True) -> Engine:
    location = location or warehouse_location()
    engine = create_engine(location.url, poolclass=NullPool, future=True)
    if create_tables:
        metadata.create_all(engine)
    return engine
