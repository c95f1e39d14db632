"""Sensors: a scan when a bar closes (the API's clock, never the DuckDB file), and an ops alert
when a run fails."""

import dagster as dg
from dagster_shared.error import SerializableErrorInfo

from sniper_pipeline.defs.ingest.resources import CoinGlassResource
from sniper_pipeline.defs.ops.jobs import COIN_SCAN_JOB
from sniper_pipeline.defs.ops.resources import AlertDeliveryResource
from sniper_pipeline.runtime import Runtime, cached_runtime
from sniper_pipeline.scan_cursor import due_scans


def build_new_bar_sensor(runtime: Runtime) -> dg.SensorDefinition:
    grids = {coin: plan.grid_interval for coin, plan in runtime.plans.items() if plan.grid_interval}

    @dg.sensor(
        name="new_bar_sensor",
        job_name=COIN_SCAN_JOB,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Requests a coin scan when a bar of its grid closes (clock: the API's Date header).",
    )
    def new_bar_sensor(context: dg.SensorEvaluationContext, coinglass: CoinGlassResource) -> dg.SensorResult:
        now = coinglass.client().now()
        requests, cursor = due_scans(context.cursor, now, grids)
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=r.run_key, partition_key=r.coin, tags={"sniper/bar": r.bar_open.isoformat()}
                )
                for r in requests
            ],
            cursor=cursor,
        )

    return new_bar_sensor


def _root_cause(error: SerializableErrorInfo) -> str:
    """The innermost error: Dagster wraps the user's exception in a step-execution error."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip().splitlines()[0]


@dg.run_failure_sensor(name="run_failure_ops_alert_sensor", default_status=dg.DefaultSensorStatus.RUNNING)
def run_failure_ops_alert_sensor(
    context: dg.RunFailureSensorContext, alert_delivery: AlertDeliveryResource
) -> None:
    """Names the run, the failed steps and their errors in the ops channel."""
    steps = []
    for event in context.get_step_failure_events():
        error = getattr(event.event_specific_data, "error", None)
        if isinstance(error, SerializableErrorInfo):
            steps.append(f"{event.step_key}: {_root_cause(error)}")
    run = context.dagster_run
    partition = run.tags.get("dagster/partition", "-")
    body = f"run {run.run_id} ({run.job_name}, partition {partition}) failed\n" + "\n".join(
        steps or [context.failure_event.message or ""]
    )
    alert_delivery.ops_alert(f"sniper: run failed: {run.job_name} {partition}", body)


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(sensors=[build_new_bar_sensor(cached_runtime()), run_failure_ops_alert_sensor])
