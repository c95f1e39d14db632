"""Every fault at the ingest level: `ingest_layer` (fetch all pages, parse, GX suite, one upsert
transaction) into a DuckDB warehouse in tmp_path, compared as whole tables with a fault-free run.

The faulted layer is HYPE's liquidation history: 1080 bars, so a first backfill takes two pages
and transport faults land mid-backfill (page 2, after page 1 was fetched). A run that fails must
write nothing; a run that recovers, in the call or on a rerun, must equal the fault-free table.
"""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from sniper_pipeline.coinglass.errors import (
    ApiCodeError,
    AuthError,
    CoinGlassError,
    MalformedResponseError,
    RateLimitError,
    SchemaDriftError,
    ServerError,
    TransportError,
)
from sniper_pipeline.replay.data_faults import DEFAULT_DUPLICATES, DEFAULT_GAP, NULL_EVERY
from sniper_pipeline.replay.recordings import recordings_end
from sniper_pipeline.replay.server import ReplayServer
from sniper_pipeline.warehouse.tables import raw_liquidations
from sniper_pipeline_tests.reliability.support import (
    COIN,
    LIQ,
    LIQ_PATH,
    SECRET,
    Plan,
    diff_table,
    ingest,
    make_client,
    new_engine,
    start_server,
    table_rows,
)

TABLE = raw_liquidations
BARS = 1080
PAGES = 2
READ_TIMEOUT = 1.0  # s; timeout faults sleep 3 s
Rows = list[tuple[Any, ...]]


@pytest.fixture(scope="module")
def baseline(module_server: ReplayServer, plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Rows:
    """The fault-free table."""
    module_server.set_faults(None)
    engine = new_engine(tmp_path_factory.mktemp("baseline"))
    result = ingest(make_client(module_server)[0], engine, plan, plan.source_for(LIQ_PATH))
    assert (result.requests, result.written.new) == (PAGES, BARS)
    return table_rows(engine, TABLE)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return new_engine(tmp_path)


def run(server: ReplayServer, engine: Engine, plan: Plan, **client_options: Any) -> Any:
    client_options.setdefault("timeout", (5, READ_TIMEOUT))
    client, _ = make_client(server, **client_options)
    return ingest(client, engine, plan, plan.source_for(LIQ_PATH))


def assert_names(err: BaseException, cause: str) -> None:
    text = str(err)
    assert LIQ_PATH in text and COIN in text and cause in text, text
    assert SECRET not in text


# -- transient faults mid-backfill: recovered in the call --------------------------------------

RECOVERED = [
    pytest.param("429=1", 2, id="429 with Retry-After"),
    pytest.param("429=1", 8, id="429 storm with Retry-After"),
    pytest.param("noretryafter429", 2, id="429 without Retry-After"),
    pytest.param("500", 2, id="500"),
    pytest.param("502", 2, id="502"),
    pytest.param("503", 3, id="503 burst"),
    pytest.param("reset", 2, id="connection reset"),
    pytest.param("timeout=3s", 1, id="read timeout"),
    pytest.param("truncated", 1, id="truncated JSON"),
    pytest.param("html", 1, id="HTML error page"),
]


@pytest.mark.parametrize(("kind", "count"), RECOVERED)
def test_transient_fault_mid_backfill_leaves_the_fault_free_table(
    server: ReplayServer, engine: Engine, plan: Plan, baseline: Rows, kind: str, count: int
) -> None:
    server.set_faults(LIQ.mid(kind, count))
    result = run(server, engine, plan)
    assert result.requests == PAGES and result.written.new == BARS
    assert table_rows(engine, TABLE) == baseline
    assert sum(1 for p, _ in server.request_log if p == LIQ_PATH) == PAGES + count


# -- past the budget or permanent, mid-backfill: nothing written, a rerun recovers -------------

FAILED = [
    pytest.param("429=1", 21, RateLimitError, "HTTP 429", {}, id="429 storm past 20 retries"),
    pytest.param("noretryafter429", 9, RateLimitError, "HTTP 429", {}, id="429 storm past the time budget"),
    pytest.param("500", 6, ServerError, "HTTP 500", {}, id="500"),
    pytest.param("502", 6, ServerError, "HTTP 502", {}, id="502"),
    pytest.param("503", 6, ServerError, "HTTP 503", {}, id="503"),
    pytest.param("reset", 6, TransportError, "Connection reset", {}, id="connection reset"),
    pytest.param("timeout=3s", 2, TransportError, "timed out", {"max_retries": 1}, id="read timeout"),
    pytest.param("truncated", 2, MalformedResponseError, "truncated JSON", {}, id="truncated JSON"),
    pytest.param("html", 6, ServerError, "<html>", {}, id="HTML error page"),
    pytest.param("code=50001", 1, ApiCodeError, "error code '50001'", {}, id="HTTP 200 code 50001"),
    pytest.param("401", 1, AuthError, "HTTP 401", {}, id="401 mid-run"),
]


@pytest.mark.parametrize(("kind", "count", "cls", "cause", "options"), FAILED)
def test_failed_backfill_writes_nothing_and_a_rerun_recovers(
    server: ReplayServer,
    engine: Engine,
    plan: Plan,
    baseline: Rows,
    kind: str,
    count: int,
    cls: type[CoinGlassError],
    cause: str,
    options: dict[str, Any],
) -> None:
    server.set_faults(LIQ.mid(kind, count))
    with pytest.raises(cls) as info:
        run(server, engine, plan, **options)
    assert_names(info.value, cause)
    assert table_rows(engine, TABLE) == []  # page 1 was fetched, but never half a table
    rerun = run(server, engine, plan)  # the faults are used up: the next run is clean
    assert rerun.written.new == BARS and table_rows(engine, TABLE) == baseline


# -- a populated table stays as it was ----------------------------------------------------------


@pytest.fixture
def populated(unseen_dir: Path, plan: Plan, engine: Engine) -> Rows:
    """The table as an earlier run left it: the replay clock 20 days before the end."""
    earlier = start_server(unseen_dir, now=recordings_end(unseen_dir) - timedelta(days=20))
    try:
        run(earlier, engine, plan)
    finally:
        earlier.stop()
    rows = table_rows(engine, TABLE)
    assert 0 < len(rows) < BARS
    return rows


@pytest.mark.parametrize(
    ("spec", "cls"),
    [
        pytest.param(f"401@{LIQ_PATH}:1", AuthError, id="401"),
        pytest.param(f"rename@{LIQ_PATH}:*", SchemaDriftError, id="renamed field"),
        pytest.param(f"missing@{LIQ_PATH}:*", SchemaDriftError, id="missing field"),
    ],
)
def test_permanent_fault_leaves_a_populated_table_as_it_was(
    server: ReplayServer,
    engine: Engine,
    plan: Plan,
    baseline: Rows,
    populated: Rows,
    spec: str,
    cls: type[CoinGlassError],
) -> None:
    server.set_faults(spec)
    with pytest.raises(cls):
        run(server, engine, plan)
    assert table_rows(engine, TABLE) == populated
    server.set_faults(None)
    run(server, engine, plan)
    assert table_rows(engine, TABLE) == baseline


def test_empty_data_on_an_incremental_run_changes_nothing(
    server: ReplayServer, engine: Engine, plan: Plan, populated: Rows
) -> None:
    server.set_faults(f"empty@{LIQ_PATH}:1")
    result = run(server, engine, plan)
    assert result.rows_received == 0 and result.written.rows == 0
    assert table_rows(engine, TABLE) == populated


# -- data faults on every page ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        pytest.param("rename", "aggregated_long_liquidation_usd", id="renamed field"),
        pytest.param(
            "missing=aggregated_short_liquidation_usd", "aggregated_short_liquidation_usd", id="missing"
        ),
    ],
)
def test_schema_drift_names_the_field_and_writes_nothing(
    server: ReplayServer, engine: Engine, plan: Plan, kind: str, field: str
) -> None:
    server.set_faults(LIQ.on(kind, "*"))
    with pytest.raises(SchemaDriftError) as info:
        run(server, engine, plan)
    assert f"no row has field {field!r}" in str(info.value) and LIQ_PATH in str(info.value)
    assert table_rows(engine, TABLE) == []


def test_field_renamed_on_one_page_is_schema_drift(server: ReplayServer, engine: Engine, plan: Plan) -> None:
    server.set_faults(LIQ.on("rename", 1))  # page 1 only: page 2 still has the field
    with pytest.raises(SchemaDriftError) as info:
        run(server, engine, plan)
    assert "absent from 1000 of 1080 rows" in str(info.value) and "_renamed" in str(info.value)
    assert table_rows(engine, TABLE) == []


@pytest.mark.parametrize("kind", ["strnum", "strnum=mixed", "extra", "dup", "unsorted"])
def test_repairable_data_fault_leaves_the_fault_free_table(
    server: ReplayServer, engine: Engine, plan: Plan, baseline: Rows, kind: str
) -> None:
    server.set_faults(LIQ.on(kind, "*"))
    result = run(server, engine, plan)
    assert table_rows(engine, TABLE) == baseline
    if kind == "dup":  # repaired and counted
        assert result.duplicates_dropped == PAGES * DEFAULT_DUPLICATES
        assert result.rows_received == BARS + PAGES * DEFAULT_DUPLICATES
    if kind == "unsorted":
        assert result.was_unsorted


def test_nulls_are_written_as_nulls_and_nothing_else_changes(
    server: ReplayServer, engine: Engine, plan: Plan, baseline: Rows
) -> None:
    server.set_faults(LIQ.on("null", "*"))
    run(server, engine, plan)
    diff = diff_table(baseline, engine, TABLE)
    nulled = math.ceil(1000 / NULL_EVERY) + math.ceil((BARS - 1000) / NULL_EVERY)  # per page
    assert (diff.lost, diff.extra, diff.duplicated, diff.changed) == (0, 0, 0, nulled)


def test_empty_first_page_writes_nothing_without_error(
    server: ReplayServer, engine: Engine, plan: Plan
) -> None:
    server.set_faults(LIQ.on("empty", 1))
    result = run(server, engine, plan)
    assert (result.requests, result.rows_received, result.written.rows) == (1, 0, 0)
    assert table_rows(engine, TABLE) == []


@pytest.mark.parametrize(
    ("spec", "lost"),
    [
        # A gap in page 1 makes it short: the pager reads that as "no older history" and stops,
        # so page 2 (80 bars) is never asked for.
        pytest.param(LIQ.on("gap", 1), DEFAULT_GAP + (BARS - 1000), id="gap in page 1"),
        pytest.param(LIQ.mid("gap", 1), DEFAULT_GAP, id="gap in page 2"),
        pytest.param(LIQ.mid("empty", 1), BARS - 1000, id="empty page 2"),
    ],
)
def test_gap_loses_rows_but_corrupts_none(
    server: ReplayServer, engine: Engine, plan: Plan, baseline: Rows, spec: str, lost: int
) -> None:
    server.set_faults(spec)
    run(server, engine, plan)
    diff = diff_table(baseline, engine, TABLE)
    assert (diff.lost, diff.extra, diff.duplicated, diff.changed) == (lost, 0, 0, 0)
