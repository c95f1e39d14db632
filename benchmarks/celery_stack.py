"""Real processes for the celery profile, shared by the test suite and `benchmarks/scale.py`:
a fresh PostgreSQL database, a private redis-server, Dagster storage and the warehouse on
PostgreSQL, Celery workers started with `dagster-celery worker start`, scans launched as
`dagster job execute` runs (what the daemon does for a sensor's run requests), and the event-log
queries that say which worker took which step.

Plumbing for tests and benchmarks, not product code, so it lives here and not in
`sniper_pipeline`; it imports only the package (benchmarks and scripts never import the tests).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from dagster_shared.serdes import deserialize_value
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from sniper_pipeline.defs.ingest.partitions import range_tags
from sniper_pipeline.replay.sample import sample_dir
from sniper_pipeline.settings.paths import project_dir

BIN = Path(sys.executable).parent
DAGSTER = str(BIN / "dagster")
DAGSTER_CELERY = str(BIN / "dagster-celery")
DEFAULT_PG_URL = "postgresql+psycopg://sniper:sniper@127.0.0.1:5432/sniper_test"  # the CI server
REDIS_HOWTO = (
    "no redis-server: install it (apt-get install -y redis-server); the test starts its own "
    "server on a free loopback port (`make redis` starts the project's on 127.0.0.1:6379)"
)


@contextlib.contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """A new, empty database on the admin URL's server, dropped on exit."""
    name = f"sniper_t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A private redis-server on a free loopback port (no persistence), stopped on exit."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError(REDIS_HOWTO)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    folder.mkdir(parents=True, exist_ok=True)
    args = [
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
    ]
    proc = subprocess.Popen([binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer on port {port}")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def replay_process_env(
    *, data_dir: Path, base_url: str, api_key: str, replay_dir: Path | None = None, **extra: str
) -> dict[str, str]:
    """Environment for a Dagster/sniper subprocess in the replay profile: this process's
    environment plus the recordings, the server, a key and generated state under `data_dir`."""
    return {
        **os.environ,
        "SNIPER_PROFILE": "replay",
        "SNIPER_REPLAY_DIR": str(replay_dir or sample_dir()),
        "CG_BASE_URL": base_url,
        "CG_API_KEY": api_key,
        "SNIPER_DATA_DIR": str(data_dir),
        **extra,
    }


def celery_config(
    path: Path,
    *,
    visibility_timeout_s: float,
    restore_interval_s: float = 1.0,
    restore_mutex_expire_s: float = 5.0,
) -> Path:
    """The project's config/celery.yaml with a shorter visibility timeout (how long a dead
    worker's step waits before another worker takes it). A worker looks for unacknowledged
    messages to restore under a Redis lock; one SIGKILLed while it holds the lock leaves it held
    until it expires (Kombu's default: 300 s), so the lock expires sooner here. Restoring stays
    exactly-once without it: each message is moved back in a WATCH transaction."""
    config = yaml.safe_load((project_dir() / "config" / "celery.yaml").read_text())
    options = config["execution"]["config"]["config_source"]["broker_transport_options"]
    options["visibility_timeout"] = visibility_timeout_s
    options["unacked_restore_interval"] = restore_interval_s
    options["unacked_mutex_expire"] = restore_mutex_expire_s
    path.write_text(yaml.safe_dump(config))
    return path


def celery_env(
    base: dict[str, str], *, home: Path, pg_url: str, redis_url: str, config: Path
) -> dict[str, str]:
    """The celery profile: PostgreSQL for Dagster's storage and the warehouse, Redis db 0 as the
    broker (and the shared rate limiter), db 1 as the result backend."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text((project_dir() / "config" / "dagster-postgres.yaml").read_text())
    return {
        **base,
        "PATH": f"{BIN}{os.pathsep}{base.get('PATH', '')}",  # `celery`, started by dagster-celery
        "DAGSTER_HOME": str(home),
        "SNIPER_WAREHOUSE_URL": pg_url,
        "DAGSTER_PG_URL": make_url(pg_url)
        .set(drivername="postgresql+psycopg2")
        .render_as_string(hide_password=False),
        "SNIPER_EXECUTOR": "celery",
        "SNIPER_CELERY_BROKER_URL": f"{redis_url}/0",
        "SNIPER_CELERY_BACKEND_URL": f"{redis_url}/1",
        "SNIPER_CELERY_CONFIG": str(config),
    }


def prepare(env: dict[str, str]) -> None:
    """As deployed: Dagster's storage, its pool limits and the warehouse schema exist before
    runs go parallel (`dagster instance migrate` and `python -m sniper_pipeline.defs.ops.pools`,
    done here in this process: two Python starts less on a busy machine)."""
    from unittest import mock

    from dagster._core.instance.ref import InstanceRef

    from sniper_pipeline.defs.ops.pools import create_pool_limits
    from sniper_pipeline.warehouse.engine import make_engine
    from sniper_pipeline.warehouse.url import warehouse_location

    with (
        mock.patch.dict(os.environ, {"DAGSTER_PG_URL": env["DAGSTER_PG_URL"]}),
        dg.DagsterInstance.from_ref(InstanceRef.from_dir(env["DAGSTER_HOME"])) as instance,
    ):
        # The only pool on PostgreSQL is dbt's (definition_pools would load the definitions).
        create_pool_limits(instance, {"dbt"})
    make_engine(warehouse_location(env["SNIPER_WAREHOUSE_URL"])).dispose()


def spawn(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A child leading its own process group (killed whole on cleanup), output appended to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            cmd, env=env, cwd=project_dir(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def start_worker(name: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """One worker process (concurrency 1: one step at a time), in its own process group so a
    test can kill it whole."""
    return spawn(
        [
            *(DAGSTER_CELERY, "worker", "start", "-A", "dagster_celery.app", "-n", name),
            *("-y", env["SNIPER_CELERY_CONFIG"], "--", "--concurrency=1"),
            *("--without-gossip", "--without-mingle"),
        ],
        env,
        log,
    )


def kill_group(proc: subprocess.Popen[Any], sig: int = signal.SIGKILL) -> None:
    """Signal the process group a `start_new_session` child leads (no-op once it was reaped)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
    proc.wait(timeout=30)


def launch_scan(env: dict[str, str], start: str, end: str, log: Path) -> subprocess.Popen[bytes]:
    """One scan run over a coin range, its steps executed by the job's executor (Celery here);
    its own process group, so a dbt subprocess goes with it on cleanup."""
    return spawn(
        [
            *(DAGSTER, "job", "execute", "-m", "sniper_pipeline.definitions", "-j", "coin_scan_job"),
            *("--tags", json.dumps(range_tags(start, end))),
        ],
        env,
        log,
    )


@dataclass(frozen=True)
class StepOnWorker:
    run_id: str
    step_key: str
    worker: str  # the Celery worker's name, e.g. w1@host
    at: float


def event_rows(pg_url: str, sql: str) -> list[Any]:
    """Rows of a query over Dagster's event log (PostgreSQL storage)."""
    engine = create_engine(pg_url, poolclass=NullPool)
    with engine.connect() as conn:
        rows = list(conn.execute(text(sql)).all())
    engine.dispose()
    return rows


def steps_on_workers(pg_url: str) -> list[StepOnWorker]:
    """Every step a Celery worker took, from the engine event dagster-celery writes when a worker
    starts a step ("Executing steps ... in celery worker", metadata "Celery worker")."""
    out = []
    rows = event_rows(
        pg_url,
        "select run_id, step_key, event, extract(epoch from timestamp) from event_logs "
        "where dagster_event_type = 'ENGINE_EVENT' and event like '%in celery worker%' order by id",
    )
    for run_id, step_key, event, at in rows:
        entry = deserialize_value(event, dg.EventLogEntry)
        assert entry.dagster_event is not None
        worker = str(entry.dagster_event.engine_event_data.metadata["Celery worker"].value)
        out.append(StepOnWorker(run_id=run_id, step_key=step_key, worker=worker, at=float(at)))
    return out


def ended_steps(pg_url: str) -> set[tuple[str, str]]:
    """(run id, step key) of every step that succeeded or failed."""
    rows = event_rows(
        pg_url,
        "select run_id, step_key from event_logs "
        "where dagster_event_type in ('STEP_SUCCESS', 'STEP_FAILURE')",
    )
    return {(r, s) for r, s in rows}


def wait_all(procs: list[subprocess.Popen[bytes]], timeout_s: float) -> list[int]:
    deadline = time.monotonic() + timeout_s
    return [p.wait(timeout=max(1.0, deadline - time.monotonic())) for p in procs]


def steps_by_worker(pg_url: str) -> dict[str, int]:
    """How many steps each Celery worker took, by worker name (e.g. w1)."""
    counts: dict[str, int] = {}
    for step in steps_on_workers(pg_url):
        name = step.worker.split("@")[0]
        counts[name] = counts.get(name, 0) + 1
    return counts
