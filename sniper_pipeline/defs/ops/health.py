"""The daily API health check as an asset with a blocking check, and its schedule."""

import dagster as dg

from sniper_pipeline.defs.ingest.resources import CoinGlassResource, WarehouseResource
from sniper_pipeline.ingest import health
from sniper_pipeline.ingest.runtime import Runtime

ALL_CALLS_OK = "all_calls_ok"
HEALTH_JOB = "health_check_job"


def build_health_asset(runtime: Runtime) -> dg.AssetsDefinition:
    @dg.asset(
        name="api_health",
        group_name="ops",
        kinds={"coinglass"},
        pool="duckdb" if runtime.uses_duckdb else None,
        deps=["instruments"],
        check_specs=[
            dg.AssetCheckSpec(
                ALL_CALLS_OK,
                asset="api_health",
                description=(
                    "Each layer's first source answers code 0 in under 2 s within the quota share, "
                    "and every configured pair still resolves: a failing endpoint, an expired key or "
                    "a delisted pair would leave a layer stale and the scans scoring old bars."
                ),
            )
        ],
        description="limit=5 per layer source of the first coin (code, latency, quota); pairs resolve.",
    )
    def api_health(
        context: dg.AssetExecutionContext, coinglass: CoinGlassResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        client = coinglass.client()
        engine = warehouse.engine()
        rows = health.check_sources(client, runtime)
        rows += health.check_pairs(engine, runtime, rows[0].checked_at)
        health.record(engine, rows)
        failed = [f"{r.endpoint}: {r.detail}" for r in rows if not r.ok]
        context.log.info("\n" + health.as_table(rows))
        return dg.MaterializeResult(
            metadata=health.summary_metadata(rows),
            check_results=[
                dg.AssetCheckResult(
                    check_name=ALL_CALLS_OK,
                    passed=not failed,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={"failed": failed},
                )
            ],
        )

    return api_health


def area_defs(runtime: Runtime) -> dg.Definitions:
    job = dg.define_asset_job(HEALTH_JOB, selection=["api_health"])
    return dg.Definitions(
        assets=[build_health_asset(runtime)],
        jobs=[job],
        schedules=[
            dg.ScheduleDefinition(
                name="daily_health_check",
                job=job,
                cron_schedule="15 0 * * *",
                execution_timezone="UTC",
                default_status=dg.DefaultScheduleStatus.RUNNING,
                description="Daily: the first source of each layer answers code 0 within 2 s.",
            )
        ],
    )
