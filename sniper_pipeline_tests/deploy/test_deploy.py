"""Deployment: the compose file is coherent, the code location serves over gRPC, and the
production instance config keeps Dagster's storage on a real PostgreSQL server."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from sniper_pipeline.settings.paths import project_dir
from sniper_pipeline_tests.conftest import UNUSED_SERVER, free_port, replay_process_env

DEPLOY = project_dir() / "deploy"
BIN = Path(sys.executable).parent
CODE_SERVER = [str(BIN / "dagster"), "api", "grpc", "-m", "sniper_pipeline.definitions", "-h", "127.0.0.1"]


def test_compose_file_names_every_service_and_the_postgres_instance() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "code", "webserver", "daemon", "stream", "redis", "worker"}
    # Celery scale-out is opt-in: Redis and the workers only start with `--profile celery`.
    assert services["redis"]["profiles"] == services["worker"]["profiles"] == ["celery"]
    assert services["worker"]["command"][:3] == ["dagster-celery", "worker", "start"]
    assert "/opt/sniper/config/celery.yaml" in services["worker"]["command"]
    assert services["stream"]["command"] == ["sniper", "stream", "--live"]
    assert services["code"]["command"][:3] == ["dagster", "api", "grpc"]
    assert "sniper_pipeline.definitions" in services["code"]["command"]
    workspace = yaml.safe_load((DEPLOY / "workspace-grpc.yaml").read_text())
    [location] = workspace["load_from"]
    port = services["code"]["command"][services["code"]["command"].index("-p") + 1]
    assert location["grpc_server"] == {"host": "code", "port": int(port), "location_name": "sniper_pipeline"}
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "dagster-postgres.yaml" in dockerfile
    env = services["code"]["environment"]
    assert env["SNIPER_WAREHOUSE_URL"].startswith("postgresql+psycopg://")
    assert "CG_API_KEY" in env and "sentinel" not in str(env).lower()


def start_code_server(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`dagster api grpc` as the compose file runs it, its output kept for the failure message.

    Dagster stops on SIGTERM by giving it SIGINT's handler. Started from a background job (a
    script's `make test &`), this process ignores SIGINT, the server would inherit that and then
    ignore SIGTERM too; a container starts it with SIGINT at its default. So SIGINT is caught
    here while the server starts: a caught signal is back at its default after exec."""
    port = free_port()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with open(log, "ab") as out:
            server = subprocess.Popen(
                [*CODE_SERVER, "-p", str(port)],
                env=env,
                cwd=project_dir(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
    finally:
        signal.signal(signal.SIGINT, previous)
    return server, port


@pytest.mark.slow
def test_code_location_loads_through_grpc(tmp_path: Path) -> None:
    env = replay_process_env(
        data_dir=tmp_path / "data", base_url=UNUSED_SERVER, api_key="grpc-test", DAGSTER_HOME=str(tmp_path)
    )
    # Storage first, as deployed: a code server and `dagster job list` creating the same SQLite
    # storage at once can stamp its alembic version twice, and every later call then fails.
    subprocess.run([str(BIN / "dagster"), "instance", "migrate"], env=env, check=True, capture_output=True)
    log = tmp_path / "grpc-server.log"
    server, port = start_code_server(env, log)
    try:
        listed, errors = "", ""
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if server.poll() is not None:
                # Exited (e.g. the port was taken between free_port and bind): once more, elsewhere.
                server, port = start_code_server(env, log)
            done = subprocess.run(
                [str(BIN / "dagster"), "job", "list", "--grpc-host", "127.0.0.1", "--grpc-port", str(port)],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            listed, errors = done.stdout, done.stderr
            if done.returncode == 0:
                break
            time.sleep(1)
        context = f"job list: {listed}{errors[-2000:]}\ncode server log:\n{log.read_text()[-3000:]}"
        for job in ("coin_scan_job", "snapshots_job", "health_check_job", "deliver_outbox_job"):
            assert job in listed, context
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.postgres
def test_postgres_instance_stores_runs_and_events(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_url(pg_url)
    (tmp_path / "dagster.yaml").write_text((project_dir() / "config" / "dagster-postgres.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv(
        "DAGSTER_PG_URL", url.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    )

    @dg.op
    def hello() -> int:
        return 1

    @dg.job
    def smoke_job() -> None:
        hello()

    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert smoke_job.execute_in_process(instance=instance).success
    engine = create_engine(pg_url, poolclass=NullPool)
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from runs where pipeline_name = 'smoke_job'")).scalar() == 1
        assert conn.execute(text("select count(*) from event_logs")).scalar() > 0
