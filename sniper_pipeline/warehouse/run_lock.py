"""One `sniper run` per warehouse at a time.

Two runs against one warehouse would interleave their upserts and each report the other's rows
(and two DuckDB writers fail half-way). The lock is released by the kernel or the server when the
process dies, however it dies, so a crashed run never leaves a stale lock behind:

- DuckDB file: `fcntl.flock` on `<file>.run.lock` beside it (the file stays; only the lock matters);
- PostgreSQL: a session advisory lock, held on a connection of its own for the whole run;
- DuckDB `:memory:` (warehouse_location refuses it; a hand-built location): nothing to lock.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily: `sniper` imports this module for the error class alone
    from sniper_pipeline.warehouse.url import WarehouseLocation

# Any constant shared by every process of this project, unlike engine._DDL_LOCK_ID (7_243_001).
# Advisory locks are per database, so two warehouses on one server do not block each other.
RUN_LOCK_ID = 7_243_002
PG_CONNECT_TIMEOUT_S = 10


class WarehouseBusyError(Exception):
    """Another run holds the warehouse (a usage error: exit 2, nothing was done)."""


def lock_path(location: WarehouseLocation) -> Path:
    return location.duckdb_path.with_name(location.duckdb_path.name + ".run.lock")


@contextmanager
def warehouse_run_lock(location: WarehouseLocation) -> Iterator[None]:
    """Hold the warehouse for the block; raise WarehouseBusyError at once if another process
    holds it (never waits: a second run is refused, not queued)."""
    if location.is_file:
        with _file_lock(lock_path(location), location):
            yield
    elif location.is_duckdb:
        yield
    else:
        with _advisory_lock(location):
            yield


def _busy(location: WarehouseLocation, holder: str) -> WarehouseBusyError:
    return WarehouseBusyError(
        f"another `sniper run` is using the warehouse {location.redacted()}{holder}; "
        "wait for it to finish (nothing was done)"
    )


@contextmanager
def _file_lock(path: Path, location: WarehouseLocation) -> Iterator[None]:
    from sniper_pipeline.warehouse.url import WarehouseUrlError

    try:
        # Opened without truncating: the holder's note must survive a refused open.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise WarehouseUrlError(f"cannot create the run lock {path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            note = os.pread(fd, 200, 0).decode(errors="replace").strip()
            raise _busy(location, f" ({note})" if note else "") from None
        # Only to name the holder in the refusal above; the lock itself is the flock.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, since {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def _advisory_lock(location: WarehouseLocation) -> Iterator[None]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.pool import NullPool

    from sniper_pipeline.warehouse.url import WarehouseUrlError

    engine = create_engine(
        location.url,
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",  # no transaction left open for the run's duration
        connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S},
    )
    try:
        try:
            conn = engine.connect()
        except SQLAlchemyError as exc:
            reason = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["?"])[0]
            raise WarehouseUrlError(
                f"cannot connect to the warehouse {location.redacted()}: {reason}"
            ) from None
        with conn:
            got = conn.execute(text("select pg_try_advisory_lock(:id)"), {"id": RUN_LOCK_ID}).scalar()
            if not got:
                holder = conn.execute(
                    text(
                        "select a.pid from pg_locks l join pg_stat_activity a on a.pid = l.pid "
                        "where l.locktype = 'advisory' and l.objid = :id and l.granted "
                        "and l.database = (select oid from pg_database where datname = current_database())"
                    ),
                    {"id": RUN_LOCK_ID},
                ).scalar()
                raise _busy(location, f" (server backend pid {holder})" if holder else "")
            try:
                yield
            finally:
                # Closing the session releases the lock too: a failed unlock must not mask
                # the block's own error.
                with suppress(SQLAlchemyError):
                    conn.execute(text("select pg_advisory_unlock(:id)"), {"id": RUN_LOCK_ID})
    finally:
        engine.dispose()
