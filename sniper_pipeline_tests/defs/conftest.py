"""Definitions built against a replay server over an unseen recordings folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sniper_pipeline.coinglass.replay import ReplayServer
from sniper_pipeline.commands.environment import recordings_end
from sniper_pipeline.runtime import Runtime, cached_runtime
from sniper_pipeline_tests.unseen import build_unseen


@pytest.fixture(scope="session")
def unseen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_unseen(tmp_path_factory.mktemp("unseen"))


@pytest.fixture
def replay_runtime(
    unseen_dir: Path, project_env: Path, duckdb_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Runtime]:
    """Environment as `sniper run` sets it, with a fresh DuckDB warehouse."""
    with ReplayServer(unseen_dir, quiet=True, now=recordings_end(unseen_dir)) as server:
        monkeypatch.setenv("SNIPER_PROFILE", "replay")
        monkeypatch.setenv("SNIPER_REPLAY_DIR", str(unseen_dir))
        monkeypatch.setenv("CG_BASE_URL", server.base_url)
        monkeypatch.setenv("CG_API_KEY", "test-key")
        monkeypatch.setenv("SNIPER_WAREHOUSE_URL", duckdb_url)
        cached_runtime.cache_clear()
        yield cached_runtime()
    cached_runtime.cache_clear()
