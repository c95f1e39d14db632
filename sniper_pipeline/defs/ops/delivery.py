"""Retries and cooldown holds need the outbox worker to run again: every few minutes."""

import dagster as dg

from sniper_pipeline.defs.ingest.resources import WarehouseResource
from sniper_pipeline.defs.ops.resources import AlertDeliveryResource
from sniper_pipeline.ingest.runtime import Runtime


def build_outbox_job(runtime: Runtime) -> dg.JobDefinition:
    @dg.op(pool="duckdb" if runtime.uses_duckdb else None)
    def deliver_due_alerts(
        context: dg.OpExecutionContext, warehouse: WarehouseResource, alert_delivery: AlertDeliveryResource
    ) -> None:
        report = alert_delivery.deliver(warehouse.engine())
        context.log.info(f"outbox: {report.as_metadata()}")

    @dg.job(description="Send due outbox rows: retries after a failed send, holds after a cooldown.")
    def deliver_outbox_job() -> None:
        deliver_due_alerts()

    return deliver_outbox_job


def area_defs(runtime: Runtime) -> dg.Definitions:
    job = build_outbox_job(runtime)
    return dg.Definitions(
        jobs=[job],
        schedules=[
            dg.ScheduleDefinition(
                name="every_5_minutes_outbox_delivery",
                job=job,
                cron_schedule="*/5 * * * *",
                default_status=dg.DefaultScheduleStatus.RUNNING,
            )
        ],
    )
