"""The one write path: `insert ... on conflict do update`, in one transaction per call.

DuckDB and PostgreSQL share the statement (duckdb-engine compiles the PostgreSQL dialect)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Table, column, select, tuple_
from sqlalchemy import table as sa_table
from sqlalchemy.dialects.postgresql import insert

from sniper_pipeline.settings.timeutil import naive_utc_stamp

_CHUNK = 500


@dataclass(frozen=True)
class UpsertStats:
    rows: int
    new: int
    updated: int
    unchanged: int

    def as_metadata(self) -> dict[str, int]:
        return {"rows_written": self.rows, "rows_new": self.new, "rows_updated": self.updated}


def _clean(value: Any) -> Any:
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return naive_utc_stamp(value).to_pydatetime()
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    return value


def frame_records(frame: pd.DataFrame, table: Table) -> list[dict[str, Any]]:
    columns = [c.name for c in table.columns if c.name in frame.columns]
    return [
        {c: _clean(v) for c, v in zip(columns, row, strict=True)}
        for row in frame[columns].itertuples(index=False)
    ]


def _existing(
    conn: Connection, table: Table, keys: Sequence[str], records: list[dict[str, Any]]
) -> dict[tuple, dict]:
    key_cols = [table.c[k] for k in keys]
    found: dict[tuple, dict] = {}
    fixed = [k for k in keys[:-1] if len({r[k] for r in records}) == 1]
    if len(fixed) == len(keys) - 1:
        # One series (e.g. one coin's bars): equality on the fixed keys and a range on the last
        # one, instead of compiling an IN list of thousands of tuples.
        last = keys[-1]
        values = [r[last] for r in records if r[last] is not None]
        if len(values) == len(records):
            query = select(table).where(
                *[table.c[k] == records[0][k] for k in fixed],
                table.c[last].between(min(values), max(values)),
            )
            wanted = {tuple(r[k] for k in keys) for r in records}
            for row in conn.execute(query).mappings():
                key = tuple(row[k] for k in keys)
                if key in wanted:
                    found[key] = dict(row)
            return found
    for start in range(0, len(records), _CHUNK):
        chunk = [tuple(r[k] for k in keys) for r in records[start : start + _CHUNK]]
        rows = conn.execute(select(table).where(tuple_(*key_cols).in_(chunk))).mappings()
        for row in rows:
            found[tuple(row[k] for k in keys)] = dict(row)
    return found


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0) or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


def upsert(
    engine: Engine | Connection,
    table: Table,
    records: list[dict[str, Any]],
    *,
    compare_ignore: Sequence[str] = ("ingested_at", "last_seen_at"),
    keep_on_update: Sequence[str] = ("first_seen_at",),
) -> UpsertStats:
    """Insert new keys, update changed ones; unchanged rows are left alone (so re-runs add nothing)."""
    if not records:
        return UpsertStats(0, 0, 0, 0)
    keys = [c.name for c in table.primary_key.columns]
    if isinstance(engine, Engine):
        with engine.begin() as conn:
            return _upsert(conn, table, records, keys, compare_ignore, keep_on_update)
    return _upsert(engine, table, records, keys, compare_ignore, keep_on_update)


def _upsert(
    conn: Connection,
    table: Table,
    records: list[dict[str, Any]],
    keys: list[str],
    compare_ignore: Sequence[str],
    keep_on_update: Sequence[str],
) -> UpsertStats:
    new, changed = _new_and_changed(conn, table, records, keys, compare_ignore)
    todo = new + changed
    if todo:
        _write(conn, table, todo, keys, keep_on_update)
    return UpsertStats(len(records), len(new), len(changed), len(records) - len(todo))


def _new_and_changed(
    conn: Connection,
    table: Table,
    records: list[dict[str, Any]],
    keys: list[str],
    compare_ignore: Sequence[str],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    existing = _existing(conn, table, keys, records)
    new, changed = [], []
    for record in records:
        old = existing.get(tuple(record[k] for k in keys))
        if old is None:
            new.append(record)
        elif any(
            not _same(record.get(c), old.get(c)) for c in record if c not in compare_ignore and c not in keys
        ):
            changed.append(record)
    return new, changed


def would_change(
    conn: Connection,
    table: Table,
    records: list[dict[str, Any]],
    *,
    compare_ignore: Sequence[str] = ("ingested_at", "last_seen_at"),
) -> bool:
    """True when `upsert` of these records would insert or update a row."""
    if not records:
        return False
    keys = [c.name for c in table.primary_key.columns]
    new, changed = _new_and_changed(conn, table, records, keys, compare_ignore)
    return bool(new or changed)


def _stage(conn: Connection, table: Table, rows: list[dict[str, Any]], columns: list[str]) -> str:
    """Bulk-load rows into a transaction-local staging table; returns its name.

    Compiling a multi-row VALUES insert costs more than the write itself, so rows travel as a
    registered DataFrame (DuckDB) or through COPY (PostgreSQL)."""
    name = f"_stage_{table.name}_{uuid.uuid4().hex[:8]}"
    if conn.dialect.name == "duckdb":
        frame = pd.DataFrame.from_records(rows, columns=columns)
        conn.connection.driver_connection.register(name, frame)  # type: ignore[union-attr]
        return name
    quoted = ", ".join(f'"{c}"' for c in columns)
    conn.exec_driver_sql(
        f'CREATE TEMP TABLE "{name}" ON COMMIT DROP AS SELECT {quoted} FROM "{table.name}" WITH NO DATA'
    )
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f'COPY "{name}" ({quoted}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])
    return name


def _write(
    conn: Connection,
    table: Table,
    rows: list[dict[str, Any]],
    keys: list[str],
    keep_on_update: Sequence[str],
) -> None:
    """The one write statement, for both warehouses: insert ... on conflict do update."""
    columns = list(rows[0])
    staged = _stage(conn, table, rows, columns)
    try:
        staging = sa_table(staged, *[column(c) for c in columns])
        stmt = insert(table).from_select(columns, staging.select())
        updatable = [c for c in columns if c not in keys and c not in keep_on_update]
        if updatable:
            stmt = stmt.on_conflict_do_update(
                index_elements=keys, set_={c: stmt.excluded[c] for c in updatable}
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=keys)
        conn.execute(stmt)
    finally:
        if conn.dialect.name == "duckdb":
            conn.connection.driver_connection.unregister(staged)  # type: ignore[union-attr]


def append_frame(conn: Connection, table_name: str, frame: pd.DataFrame) -> None:
    """Bulk-append a frame to an existing table with the same columns, in the caller's
    transaction: a registered DataFrame on DuckDB, COPY on PostgreSQL (pandas' row inserts cost
    seconds per ten thousand rows)."""
    if frame.empty:
        return
    if conn.dialect.name == "duckdb":
        name = f"_append_{uuid.uuid4().hex[:8]}"
        conn.connection.driver_connection.register(name, frame)  # type: ignore[union-attr]
        try:
            conn.exec_driver_sql(f'INSERT INTO "{table_name}" SELECT * FROM "{name}"')
        finally:
            conn.connection.driver_connection.unregister(name)  # type: ignore[union-attr]
        return
    quoted = ", ".join(f'"{c}"' for c in frame.columns)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f'COPY "{table_name}" ({quoted}) FROM STDIN') as copy:
        for row in frame.itertuples(index=False):
            copy.write_row([_clean(v) for v in row])
