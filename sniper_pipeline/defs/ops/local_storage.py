"""Dagster's local SQLite storage (config/dagster.yaml) with cheaper event writes.

Dagster's SQLite event log opens a new engine and connection for every statement group and
commits with an fsync: a scan writes hundreds of events (planned, materialized and check events
per coin), so a no-op `sniper run` spent a third of its time opening, syncing and closing
SQLite files. Here each run's event-log file keeps an engine (a few most recent ones: a
webserver reads many runs' files) whose connections are pooled, and commits do not wait for
the disk (`synchronous=OFF`). A crash of the process loses nothing SQLite has been handed; a power loss
may lose the last events of a local run. PostgreSQL (config/dagster-postgres.yaml) is the
storage for deployments and is untouched.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
from dagster._serdes import ConfigurableClassData
from sqlalchemy import Connection, Engine, create_engine, event

# Engines kept open per process: the current run's file, the index, and a few more a webserver
# or daemon is reading; an evicted engine closes its connections.
KEPT_ENGINES = 8


def _no_fsync(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("pragma synchronous=OFF")


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage whose per-file engines are kept (and their connections pooled)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_lock = threading.Lock()
        self._tables_seen: set[str] = set()
        self._asset_key_columns_seen: set[str] = set()
        super().__init__(base_dir, inst_data=inst_data)

    def has_table(self, table_name: str) -> bool:
        # Asked before most event writes (asset checks, asset keys): the base class reflects the
        # index file's schema through a new engine each time. Tables are only ever added (by a
        # migration), so a table once seen stays.
        if table_name in self._tables_seen:
            return True
        # Not through _connect: callers ask while holding its lock (inside an index transaction).
        with self._engine(self.conn_string_for_shard(INDEX_SHARD_NAME)).connect() as conn:
            found = bool(conn.dialect.has_table(conn, table_name))
        if found:
            self._tables_seen.add(table_name)
        return found

    def _has_asset_key_col_on_connection(self, conn: Connection, column_name: str) -> bool:
        # As has_table: asked per asset event, and columns are only ever added.
        if column_name in self._asset_key_columns_seen:
            return True
        found = super()._has_asset_key_col_on_connection(conn, column_name)
        if found:
            self._asset_key_columns_seen.add(column_name)
        return found

    def _engine(self, conn_string: str) -> Engine:
        with self._engines_lock:
            engine = self._engines.get(conn_string)
            if engine is None:
                engine = create_engine(conn_string, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
                event.listen(engine, "connect", _no_fsync)
                self._engines[conn_string] = engine
                while len(self._engines) > KEPT_ENGINES:
                    self._engines.popitem(last=False)[1].dispose()
            self._engines.move_to_end(conn_string)
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # As the base class, with a kept engine instead of one created and disposed per call.
        with self._db_lock:
            engine = self._engine(self.conn_string_for_shard(shard))
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _dispose_engines(self) -> None:
        with self._engines_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    def wipe(self) -> None:
        self._dispose_engines()  # before the base class unlinks the files they hold open
        self._tables_seen.clear()
        self._asset_key_columns_seen.clear()
        super().wipe()

    def dispose(self) -> None:
        self._dispose_engines()
        super().dispose()


class LocalSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage layout under `base_dir`, with the pooled event log."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self.base_dir = base_dir
        self._run_storage = SqliteRunStorage.from_local(os.path.join(base_dir, "history", ""))
        self._event_log_storage = PooledSqliteEventLogStorage(os.path.join(base_dir, "history", "runs", ""))
        self._schedule_storage = SqliteScheduleStorage.from_local(os.path.join(base_dir, "schedules"))
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> LocalSqliteStorage:
        base_dir = str(config_value["base_dir"])
        os.makedirs(base_dir, exist_ok=True)
        return cls(base_dir, inst_data=inst_data)
