"""Jobs: reference snapshots (unpartitioned) and the per-coin scan (everything partitioned)."""

from __future__ import annotations

import dagster as dg

from sniper_pipeline.defs.ingest.partitions import coin_partitions
from sniper_pipeline.runtime import cached_runtime

SNAPSHOT_ASSETS = ("instruments", "raw_funding_intervals", "raw_liquidation_exchanges", "raw_etf_flows")
SNAPSHOTS_JOB = "snapshots_job"
COIN_SCAN_JOB = "coin_scan_job"

snapshot_selection = dg.AssetSelection.assets(*SNAPSHOT_ASSETS)


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        jobs=[
            dg.define_asset_job(SNAPSHOTS_JOB, selection=snapshot_selection),
            dg.define_asset_job(
                COIN_SCAN_JOB,
                # Everything partitioned by coin: raw layers, dbt models, signals.
                selection=dg.AssetSelection.groups("ingest", "transform", "signals")
                - snapshot_selection
                - dg.AssetSelection.assets("signal_evaluation"),
                partitions_def=coin_partitions(cached_runtime()),
                description="Fetch, transform and score one coin (a partition).",
            ),
        ]
    )
