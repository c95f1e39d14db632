"""Sensors: a scan when a bar closes (the API's clock, never the DuckDB file), and an ops alert
when a run fails."""

from datetime import datetime

import dagster as dg
from dagster_shared.error import SerializableErrorInfo

from sniper_pipeline.defs.ingest.partitions import RANGE_END_TAG, RANGE_START_TAG, coin_ranges, range_tags
from sniper_pipeline.defs.ingest.resources import CoinGlassResource
from sniper_pipeline.defs.ops.jobs import COIN_SCAN_JOB
from sniper_pipeline.defs.ops.resources import AlertDeliveryResource
from sniper_pipeline.ingest.runtime import Runtime
from sniper_pipeline.ingest.scan_cursor import ScanRequest, due_scans

# How often the daemon asks the API's clock whether a bar closed: the bound on alert latency.
SENSOR_INTERVAL_SECONDS = 30


def scan_run_requests(
    requests: list[ScanRequest], partition_keys: list[str], max_coins: int | None = None
) -> list[dg.RunRequest]:
    """One run per closed bar time and contiguous range of due coins (usually one run per close;
    under Celery one per `max_coins` coins, so the workers share the scan)."""
    by_bar: dict[datetime, list[str]] = {}
    for request in requests:
        by_bar.setdefault(request.bar_open, []).append(request.coin)
    runs = []
    for bar_open, coins in sorted(by_bar.items()):
        for start, end in coin_ranges(partition_keys, coins, max_coins):
            runs.append(
                dg.RunRequest(
                    run_key=f"{start}..{end}|{bar_open.isoformat()}",
                    tags={**range_tags(start, end), "sniper/bar": bar_open.isoformat()},
                )
            )
    return runs


def build_new_bar_sensor(runtime: Runtime) -> dg.SensorDefinition:
    grids = {coin: plan.grid_interval for coin, plan in runtime.plans.items() if plan.grid_interval}
    partition_keys = runtime.partition_keys

    @dg.sensor(
        name="new_bar_sensor",
        job_name=COIN_SCAN_JOB,
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="One scan run for every coin whose grid bar closed (clock: the API's Date header).",
    )
    def new_bar_sensor(context: dg.SensorEvaluationContext, coinglass: CoinGlassResource) -> dg.SensorResult:
        now = coinglass.client().now()
        requests, cursor = due_scans(context.cursor, now, grids)
        runs = scan_run_requests(requests, partition_keys, runtime.coins_per_run)
        return dg.SensorResult(run_requests=runs, cursor=cursor)

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
    partition = run.tags.get("dagster/partition") or "..".join(
        run.tags[t] for t in (RANGE_START_TAG, RANGE_END_TAG) if t in run.tags
    )
    body = f"run {run.run_id} ({run.job_name}, partition {partition}) failed\n" + "\n".join(
        steps or [context.failure_event.message or ""]
    )
    alert_delivery.ops_alert(f"sniper: run failed: {run.job_name} {partition}", body)


def area_defs(runtime: Runtime) -> dg.Definitions:
    return dg.Definitions(sensors=[build_new_bar_sensor(runtime), run_failure_ops_alert_sensor])
