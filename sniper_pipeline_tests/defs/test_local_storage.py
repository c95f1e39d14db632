"""The local instance (config/dagster.yaml) stores events through the pooled SQLite event log:
what one instance writes, another instance and another process read; engines stay bounded; a
wipe leaves a working storage."""

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from sniper_pipeline.defs.ops.local_storage import KEPT_ENGINES, PooledSqliteEventLogStorage
from sniper_pipeline.settings.paths import config_dir


@dg.op
def one_step(context: dg.OpExecutionContext) -> int:
    context.log.info("a line the event log keeps")
    return 1


@dg.job
def tiny_job() -> None:
    one_step()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(config_dir() / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    yield home


def _run(instance: dg.DagsterInstance) -> str:
    result = tiny_job.execute_in_process(instance=instance)
    assert result.success
    return result.run_id


def test_the_shipped_instance_uses_the_pooled_event_log(home: Path) -> None:
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        run_id = _run(instance)
        written = [e.user_message for e in instance.all_logs(run_id)]
    # Dagster's own layout under DAGSTER_HOME: runs.db, one file per run, the index.
    assert (home / "history" / "runs.db").exists() and (home / "history" / "runs" / f"{run_id}.db").exists()
    with dg.DagsterInstance.get() as again:
        assert [e.user_message for e in again.all_logs(run_id)] == written
    assert "a line the event log keeps" in written
    code = f"import dagster as dg, sys; i = dg.DagsterInstance.get(); print(len(i.all_logs({run_id!r})))"
    read = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(read.stdout.strip()) == len(written)


def test_engines_stay_bounded_and_a_wipe_leaves_a_working_storage(home: Path) -> None:
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, PooledSqliteEventLogStorage)
        run_ids = [_run(instance) for _ in range(KEPT_ENGINES + 2)]
        assert len(storage._engines) == KEPT_ENGINES
        assert all(instance.all_logs(run_id) for run_id in run_ids)  # evicted files reopen
        storage.wipe()
        # Only the index (emptied by the wipe) is open again; the run files are gone.
        assert [url.rsplit("/", 1)[-1] for url in storage._engines] == ["index.db"]
        assert not list((home / "history" / "runs").glob("????????-*.db"))
        assert instance.all_logs(_run(instance))


def test_schema_answers_match_dagsters_and_see_a_table_added_later(home: Path) -> None:
    import sqlite3

    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, PooledSqliteEventLogStorage)
        _run(instance)
        plain = SqliteEventLogStorage(storage._base_dir)
        for table in ("asset_check_executions", "asset_event_tags", "concurrency_slots", "not_a_table"):
            assert storage.has_table(table) == plain.has_table(table)
            assert storage.has_table(table) == (table != "not_a_table")  # asked twice: from the cache
        assert storage.has_asset_key_index_cols() == plain.has_asset_key_index_cols() is True
        # A table a migration adds later is seen: only tables found are remembered.
        with sqlite3.connect(Path(storage._base_dir) / "index.db") as db:
            db.execute("create table not_a_table (x integer)")
        assert storage.has_table("not_a_table")
        plain.dispose()
