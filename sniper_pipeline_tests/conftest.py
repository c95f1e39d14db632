"""Suite-wide fixtures: warehouses (DuckDB file, real PostgreSQL) and an isolated project env."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

# Shared with benchmarks/scale.py (scripts import only the package, so the tests import them).
from benchmarks.celery_stack import DEFAULT_PG_URL, REDIS_HOWTO, fresh_database, redis_server
from benchmarks.celery_stack import replay_process_env as replay_process_env

REPO_ROOT = Path(__file__).resolve().parents[1]
PG_HOWTO = (
    "no PostgreSQL server: install it (apt-get install -y postgresql) and run "
    "`bash .ci/start-postgres.sh`, or set SNIPER_TEST_PG_URL"
)

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")


def _pg_reachable(url: str) -> bool:
    try:
        engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """A superuser URL of a running server; started from Debian's binaries when needed."""
    url = os.environ.get("SNIPER_TEST_PG_URL", DEFAULT_PG_URL)
    if _pg_reachable(url):
        return url
    if "SNIPER_TEST_PG_URL" not in os.environ and list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
        subprocess.run(
            ["bash", str(REPO_ROOT / ".ci" / "start-postgres.sh")], check=False, capture_output=True
        )
        if _pg_reachable(url):
            return url
    pytest.skip(PG_HOWTO)


@pytest.fixture
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    with fresh_database(pg_admin_url) as url:
        yield url


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A private redis-server for one test (broker, result backend and shared rate limiter): no
    state shared with other tests or with `make redis`'s server."""
    if shutil.which("redis-server") is None:
        pytest.skip(REDIS_HOWTO)
    with redis_server(tmp_path / "redis") as url:
        yield url


@pytest.fixture
def duckdb_url(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on both warehouses."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def project_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Generated state (data, reports, DAGSTER_HOME) under tmp_path; config from the repo."""
    monkeypatch.setenv("SNIPER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SNIPER_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.delenv("SNIPER_WAREHOUSE_URL", raising=False)
    monkeypatch.delenv("CG_BASE_URL", raising=False)
    monkeypatch.delenv("SNIPER_PROFILE", raising=False)
    return tmp_path


def free_port() -> int:
    """A free loopback port for a server a test starts."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# For processes that load the definitions but must not reach a server: nothing listens on port 9.
UNUSED_SERVER = "http://127.0.0.1:9"


# Two slow files mostly wait on the processes they start (a Celery worker's visibility timeout; a
# run blocked on the dbt pool): side by side, the cores idle through both waits, and the concurrency
# test took 85-115 s; apart, 50-55 s. One goes first, the other after the other slow files.
_SLOW_FIRST, _SLOW_LAST = "test_celery_workers.py", "test_concurrent_runs.py"


def _run_order(item: pytest.Item) -> tuple[bool, int]:
    name = item.path.name
    rank = 0 if name == _SLOW_FIRST else 2 if name == _SLOW_LAST else 1
    return item.get_closest_marker("slow") is None, rank


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """End-to-end (`slow`) tests first: with `-n 2 --dist loadfile` their files start early on
    both workers and the many short files fill the gaps, instead of two long files ending the run."""
    items.sort(key=_run_order)
