"""Suite-wide fixtures: warehouses (DuckDB file, real PostgreSQL) and an isolated project env."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PG_URL = "postgresql+psycopg://sniper:sniper@127.0.0.1:5432/sniper_test"
PG_HOWTO = (
    "no PostgreSQL server: install it (apt-get install -y postgresql) and run "
    "`bash .ci/start-postgres.sh`, or set SNIPER_TEST_PG_URL"
)

REDIS_HOWTO = (
    "no redis-server: install it (apt-get install -y redis-server); the test starts its own "
    "server on a free loopback port (`make redis` starts the project's on 127.0.0.1:6379)"
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


@contextmanager
def fresh_database(pg_admin_url: str) -> Iterator[str]:
    """A new, empty database on the admin URL's server, dropped on exit."""
    name = f"sniper_t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    with fresh_database(pg_admin_url) as url:
        yield url


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A private redis-server on a free loopback port (no persistence), stopped on exit."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError(REDIS_HOWTO)
    import redis

    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        for _ in range(100):
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                time.sleep(0.05)
        else:
            raise RuntimeError(f"redis-server did not answer on port {port}")
        client.close()
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


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


def replay_process_env(
    *, data_dir: Path, base_url: str, api_key: str, replay_dir: Path | None = None, **extra: str
) -> dict[str, str]:
    """Environment for a Dagster/sniper subprocess in the replay profile: this process's
    environment plus the recordings, the server, a key and generated state under `data_dir`."""
    from sniper_pipeline.replay.sample import sample_dir

    return {
        **os.environ,
        "SNIPER_PROFILE": "replay",
        "SNIPER_REPLAY_DIR": str(replay_dir or sample_dir()),
        "CG_BASE_URL": base_url,
        "CG_API_KEY": api_key,
        "SNIPER_DATA_DIR": str(data_dir),
        **extra,
    }


# For processes that load the definitions but must not reach a server: nothing listens on port 9.
UNUSED_SERVER = "http://127.0.0.1:9"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """End-to-end (`slow`) tests first: with `-n 2 --dist loadfile` their files start early on
    both workers and the many short files fill the gaps, instead of two long files ending the run."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
