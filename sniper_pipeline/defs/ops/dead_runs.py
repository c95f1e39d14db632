"""Runs whose process died (kill -9, OOM, reboot) stay STARTED in Dagster's storage and keep
their pool slots, so the next scan would wait for the `duckdb` slot forever. The sweep finds
them by the process that wrote their last event, marks them failed and frees their slots;
`sniper run` sweeps before it starts and the daemon every minute (sensor below)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

IN_PROGRESS = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


@dataclass(frozen=True)
class SweptRun:
    run_id: str
    job_name: str
    pid: int

    def describe(self) -> str:
        return (
            f"run {self.run_id[:8]} ({self.job_name}) was left running by process {self.pid}, "
            "which is gone: marked failed, its pool slots freed"
        )


def process_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (a killed child not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        # The state letter follows the parenthesised command name.
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def last_event_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The process that wrote the run's latest Dagster event (plain log lines carry no pid)."""
    for record in instance.get_records_for_run(run_id, ascending=False, limit=50).records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.pid is not None:
            return int(event.pid)
    return None


def sweep_dead_runs(instance: dg.DagsterInstance, *, exclude_pid: int | None = None) -> list[SweptRun]:
    """Mark in-progress runs whose last writer process is gone as failed and free their slots.
    A run whose last event came from a live process (or this one) is left alone."""
    swept = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=IN_PROGRESS)):
        run = record.dagster_run
        pid = last_event_pid(instance, run.run_id)
        if pid is None or pid == exclude_pid or process_alive(pid):
            continue
        dead = SweptRun(run.run_id, run.job_name, pid)
        instance.report_run_failed(run, message=f"{dead.describe()} (sniper dead-run sweep)")
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        swept.append(dead)
    return swept


@dg.sensor(
    name="dead_run_sweeper",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks runs whose process died as failed and frees their pool slots.",
)
def dead_run_sweeper(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    swept = sweep_dead_runs(context.instance)
    for run in swept:
        context.log.warning(run.describe())
    return dg.SkipReason(f"swept {len(swept)} dead run(s)" if swept else "no dead runs")


def area_defs() -> dg.Definitions:
    return dg.Definitions(sensors=[dead_run_sweeper])
