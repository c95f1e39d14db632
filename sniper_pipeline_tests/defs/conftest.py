"""Definitions built against a replay server over an unseen recordings folder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sniper_pipeline.ingest.runtime import Runtime, load_runtime
from sniper_pipeline.replay.recordings import recordings_end
from sniper_pipeline.replay.server import ReplayServer
from sniper_pipeline.warehouse.url import warehouse_location
from sniper_pipeline_tests.unseen import build_unseen


@pytest.fixture(scope="session")
def unseen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_unseen(tmp_path_factory.mktemp("unseen"))


def replay_runtime_for(folder: Path, base_url: str, warehouse_url: str) -> Runtime:
    """What `sniper run` builds: the recordings, their server and the warehouse to write to."""
    return load_runtime(
        profile="replay", replay_dir=folder, base_url=base_url, warehouse=warehouse_location(warehouse_url)
    )


@contextmanager
def replay_environment(folder: Path, warehouse_url: str) -> Iterator[Runtime]:
    """A replay server over `folder` for the block, and the Runtime for it."""
    with ReplayServer(folder, quiet=True, now=recordings_end(folder)) as server:
        yield replay_runtime_for(folder, server.base_url, warehouse_url)


@pytest.fixture
def replay_runtime(unseen_dir: Path, project_env: Path, duckdb_url: str) -> Iterator[Runtime]:
    with replay_environment(unseen_dir, duckdb_url) as runtime:
        yield runtime


@pytest.fixture
def replay_runtime_any_warehouse(
    unseen_dir: Path, project_env: Path, warehouse_url: str
) -> Iterator[Runtime]:
    """The same pipeline on DuckDB and on a real PostgreSQL server."""
    with replay_environment(unseen_dir, warehouse_url) as runtime:
        yield runtime
