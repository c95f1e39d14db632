"""Jobs: reference snapshots (unpartitioned) and the scan (everything partitioned by coin).

A scan is ONE run over a range of coins: each coin-partitioned asset has a single-run backfill
policy and reads `context.partition_keys`, so dbt builds once and the engine runs once per scan.
The in-process executor (default) keeps the run in one process: no process start per step, and
the DuckDB file is opened by one process at a time. With SNIPER_EXECUTOR=celery the steps go to
Celery workers (dagster-celery, settings in config/celery.yaml shared with the workers) and a
scan is split into runs of `coins_per_run` coins, so several steps can run at once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from sniper_pipeline.defs.ingest.partitions import coin_partitions
from sniper_pipeline.ingest.runtime import Runtime
from sniper_pipeline.settings.paths import config_dir

SNAPSHOT_ASSETS = ("instruments", "raw_funding_intervals", "raw_liquidation_exchanges", "raw_etf_flows")
SNAPSHOTS_JOB = "snapshots_job"
COIN_SCAN_JOB = "coin_scan_job"

snapshot_selection = dg.AssetSelection.assets(*SNAPSHOT_ASSETS)
# The staging models' dbt tests re-read every raw row: an audit on demand (select them in the
# UI), not a cost of every scan. The mart's tests stay in the scan as its asset checks.
_staging = dg.AssetSelection.from_string('key:"stg_*"')
staging_tests = _staging - _staging.without_checks()


CELERY_CONFIG_ENV = "SNIPER_CELERY_CONFIG"


def celery_config_path() -> Path:
    """config/celery.yaml, or SNIPER_CELERY_CONFIG: the file the workers are started with."""
    return Path(os.environ.get(CELERY_CONFIG_ENV) or config_dir() / "celery.yaml")


def celery_executor_config(path: Path) -> dict[str, Any]:
    """The `execution.config` block of a worker config file (broker and backend as env refs)."""
    config: dict[str, Any] = (yaml.safe_load(path.read_text()) or {})["execution"]["config"]
    return config


def scan_executor(runtime: Runtime) -> dg.ExecutorDefinition:
    if runtime.executor == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(celery_executor_config(celery_config_path()), name="celery")
    return dg.in_process_executor


def area_defs(runtime: Runtime) -> dg.Definitions:
    return dg.Definitions(
        jobs=[
            dg.define_asset_job(SNAPSHOTS_JOB, selection=snapshot_selection),
            dg.define_asset_job(
                COIN_SCAN_JOB,
                selection=dg.AssetSelection.groups("ingest", "transform", "signals")
                - snapshot_selection
                - dg.AssetSelection.assets("signal_evaluation")
                - staging_tests,
                partitions_def=coin_partitions(runtime),
                executor_def=scan_executor(runtime),
                description="Fetch, transform and score a range of coins in one run.",
            ),
        ]
    )
