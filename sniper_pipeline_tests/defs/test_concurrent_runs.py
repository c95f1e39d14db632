"""On PostgreSQL, one coin scanned twice at once in separate processes (one `dagster job execute`
each: the scheduled scan and the extra one a sensor triggers) neither loses nor duplicates rows.

Different coins' runs at once on PostgreSQL are tested with the Celery executor
(test_celery_workers.py: parallel partition-range runs, compared row by row with one in-process
scan); a third process here cost a minute of the suite on 2 cores and tested nothing more."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from sniper_pipeline.replay.recordings import recordings_end
from sniper_pipeline.replay.sample import sample_dir
from sniper_pipeline.replay.server import ReplayServer
from sniper_pipeline.settings.paths import project_dir
from sniper_pipeline.warehouse.engine import make_engine
from sniper_pipeline.warehouse.url import warehouse_location
from sniper_pipeline_tests.conftest import replay_process_env

DAGSTER = str(Path(sys.executable).with_name("dagster"))
TABLES = (
    "raw_liquidations",
    "raw_open_interest",
    "raw_funding",
    "raw_taker_volume",
    "fct_layer_bars",
    "alert_events",
)


def _scan(coin: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            DAGSTER,
            "job",
            "execute",
            "-m",
            "sniper_pipeline.definitions",
            "-j",
            "coin_scan_job",
            "--tags",
            json.dumps({"dagster/partition": coin}),
        ],
        env=env,
        cwd=project_dir(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _counts(url: str) -> dict[str, tuple[int, int]]:
    engine = create_engine(url, poolclass=NullPool)
    out = {}
    with engine.connect() as conn:
        for table in TABLES:
            key = (
                "dedup_key"
                if table == "alert_events"
                else "coin, ts"
                if table == "fct_layer_bars"
                else "coin, source_key, ts"
            )
            total, distinct = conn.execute(
                text(f"select count(*), count(distinct ({key})) from {table}")
            ).one()
            out[table] = (int(total), int(distinct))
    return out


def _create_storage(env: dict[str, str]) -> None:
    """What `dagster instance migrate` does on an empty database (deploy/test_deploy.py runs the
    command): opening the instance creates its PostgreSQL tables. Here in this process, one
    Python start less on a busy machine."""
    with (
        mock.patch.dict(os.environ, {"DAGSTER_PG_URL": env["DAGSTER_PG_URL"]}),
        dg.DagsterInstance.from_ref(InstanceRef.from_dir(env["DAGSTER_HOME"])),
    ):
        pass


@pytest.mark.postgres
@pytest.mark.slow
def test_one_coin_scanned_twice_at_once_on_postgres(pg_url: str, tmp_path: Path) -> None:
    folder = sample_dir()
    (tmp_path / "home").mkdir()
    # Production layout: Dagster's storage on PostgreSQL too (here the same test database).
    (tmp_path / "home" / "dagster.yaml").write_text(
        (project_dir() / "config" / "dagster-postgres.yaml").read_text()
    )
    with ReplayServer(folder, quiet=True, now=recordings_end(folder)) as server:
        env = replay_process_env(
            data_dir=tmp_path / "data",
            base_url=server.base_url,
            api_key="parallel-test",
            replay_dir=folder,
            DAGSTER_HOME=str(tmp_path / "home"),
            SNIPER_WAREHOUSE_URL=pg_url,
            DAGSTER_PG_URL=make_url(pg_url)
            .set(drivername="postgresql+psycopg2")
            .render_as_string(hide_password=False),
        )
        # As deployed: Dagster's storage, its pool limits and the warehouse schema exist before
        # runs go parallel.
        _create_storage(env)
        subprocess.run(
            [sys.executable, "-m", "sniper_pipeline.commands.pools"], env=env, check=True, capture_output=True
        )
        make_engine(warehouse_location(pg_url)).dispose()
        runs = [_scan("BTC", env) for _ in range(2)]
        outputs = [proc.communicate(timeout=900)[0] for proc in runs]
    for proc, output in zip(runs, outputs, strict=True):
        assert proc.returncode == 0, output[-3000:]
    counts = _counts(pg_url)
    for table, (total, distinct) in counts.items():
        assert total == distinct > 0, (table, total, distinct)
    # Every bar of the sample's BTC once (1,080 4h bars), whichever run wrote it.
    assert counts["raw_liquidations"][0] == 1080 and counts["fct_layer_bars"][0] == 1080
