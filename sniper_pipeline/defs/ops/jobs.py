"""Jobs: reference snapshots (unpartitioned) and the scan (everything partitioned by coin).

A scan is ONE run over a range of coins: each coin-partitioned asset has a single-run backfill
policy and reads `context.partition_keys`, so dbt builds once and the engine runs once per scan.
The in-process executor keeps the run in one process: no process start per step, and the
DuckDB file is opened by one process at a time."""

from __future__ import annotations

import dagster as dg

from sniper_pipeline.defs.ingest.partitions import coin_partitions
from sniper_pipeline.ingest.runtime import cached_runtime

SNAPSHOT_ASSETS = ("instruments", "raw_funding_intervals", "raw_liquidation_exchanges", "raw_etf_flows")
SNAPSHOTS_JOB = "snapshots_job"
COIN_SCAN_JOB = "coin_scan_job"

snapshot_selection = dg.AssetSelection.assets(*SNAPSHOT_ASSETS)
# The staging models' dbt tests re-read every raw row: an audit on demand (select them in the
# UI), not a cost of every scan. The mart's tests stay in the scan as its asset checks.
_staging = dg.AssetSelection.from_string('key:"stg_*"')
staging_tests = _staging - _staging.without_checks()


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        jobs=[
            dg.define_asset_job(SNAPSHOTS_JOB, selection=snapshot_selection),
            dg.define_asset_job(
                COIN_SCAN_JOB,
                selection=dg.AssetSelection.groups("ingest", "transform", "signals")
                - snapshot_selection
                - dg.AssetSelection.assets("signal_evaluation")
                - staging_tests,
                partitions_def=coin_partitions(cached_runtime()),
                executor_def=dg.in_process_executor,
                description="Fetch, transform and score a range of coins in one run.",
            ),
        ]
    )
