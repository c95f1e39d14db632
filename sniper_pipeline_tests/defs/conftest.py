"""Definitions built against a replay server over an unseen recordings folder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sniper_pipeline.ingest.runtime import Runtime, cached_runtime
from sniper_pipeline.replay.recordings import recordings_end
from sniper_pipeline.replay.server import ReplayServer
from sniper_pipeline_tests.unseen import build_unseen


@pytest.fixture(scope="session")
def unseen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_unseen(tmp_path_factory.mktemp("unseen"))


@contextmanager
def replay_environment(
    folder: Path, warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Runtime]:
    """The environment `sniper run` sets up: a replay server and the warehouse to write to."""
    with ReplayServer(folder, quiet=True, now=recordings_end(folder)) as server:
        monkeypatch.setenv("SNIPER_PROFILE", "replay")
        monkeypatch.setenv("SNIPER_REPLAY_DIR", str(folder))
        monkeypatch.setenv("CG_BASE_URL", server.base_url)
        monkeypatch.setenv("CG_API_KEY", "test-key")
        monkeypatch.setenv("SNIPER_WAREHOUSE_URL", warehouse_url)
        cached_runtime.cache_clear()
        yield cached_runtime()
    cached_runtime.cache_clear()


@pytest.fixture
def replay_runtime(
    unseen_dir: Path, project_env: Path, duckdb_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Runtime]:
    with replay_environment(unseen_dir, duckdb_url, monkeypatch) as runtime:
        yield runtime


@pytest.fixture
def replay_runtime_any_warehouse(
    unseen_dir: Path, project_env: Path, warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Runtime]:
    """The same pipeline on DuckDB and on a real PostgreSQL server."""
    with replay_environment(unseen_dir, warehouse_url, monkeypatch) as runtime:
        yield runtime
