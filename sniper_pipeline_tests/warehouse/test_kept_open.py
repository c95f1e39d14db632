"""A run keeps its DuckDB file open, lets go of it for dbt, and other processes wait for it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from sniper_pipeline.warehouse.engine import make_engine
from sniper_pipeline.warehouse.kept_open import kept_open, released
from sniper_pipeline.warehouse.run_lock import WarehouseBusyError
from sniper_pipeline.warehouse.url import warehouse_location

# Opens the file in another process: prints "open" or "locked", then holds it until stdin closes.
_OTHER_PROCESS = """
import sys, duckdb
try:
    conn = duckdb.connect(sys.argv[1])
except duckdb.IOException:
    print("locked", flush=True)
    sys.exit(0)
print("open", flush=True)
sys.stdin.read()
"""


@contextmanager
def other_process(path: Path) -> Iterator[str]:
    """What another process gets when it opens the file now; it holds the file for the block."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _OTHER_PROCESS, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


@pytest.fixture
def warehouse_file(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    make_engine(warehouse_location(f"duckdb:///{path}")).dispose()
    return path


def test_the_file_is_held_for_the_block_and_let_go_for_another_process(warehouse_file: Path) -> None:
    location = warehouse_location(f"duckdb:///{warehouse_file}")
    with kept_open(location):
        with kept_open(location):  # nested holders share the one connection
            pass
        with other_process(warehouse_file) as got:
            assert got == "locked"  # still held by the outer holder
        with released(location), other_process(warehouse_file) as got:
            assert got == "open"
        with other_process(warehouse_file) as got:
            assert got == "locked"  # held again after the release
        # Engines of this process still work while the file is held, and see each other's writes.
        engine = make_engine(location)
        with engine.begin() as conn:
            conn.execute(text("create table t as select 42 as x"))
        with make_engine(location, create_tables=False).connect() as conn:
            assert conn.execute(text("select x from t")).scalar() == 42
    with other_process(warehouse_file) as got:
        assert got == "open"


def test_postgresql_locations_are_left_alone() -> None:
    # Nothing to hold: no connection is attempted (this server does not exist).
    location = warehouse_location("postgresql+psycopg://u:p@127.0.0.1:1/none")
    with kept_open(location), released(location):
        pass


def test_a_connect_waits_for_another_process_to_let_go(warehouse_file: Path) -> None:
    location = warehouse_location(f"duckdb:///{warehouse_file}")
    with other_process(warehouse_file) as got:
        assert got == "open"
        # The other process holds the file: a short wait gives up with a one-line busy error.
        with pytest.raises(WarehouseBusyError, match="held by another process"):
            make_engine(location, lock_wait_s=0.3)
        # A longer one gets the file once the other process lets go (released in the background).
        opened: list[int] = []

        def connect() -> None:
            with make_engine(location, lock_wait_s=60).connect() as conn:
                opened.append(conn.execute(text("select 1")).scalar_one())

        waiter = threading.Thread(target=connect)
        waiter.start()
        time.sleep(0.5)
        assert not opened  # still waiting while the other process holds the file
    waiter.join(timeout=60)
    assert opened == [1]
