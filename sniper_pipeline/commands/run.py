"""`sniper run`: materialize the whole graph for every coin with data, then print a summary."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from sniper_pipeline.commands.environment import api_environment
from sniper_pipeline.commands.preflight import preflight_run
from sniper_pipeline.commands.summary import RunTotals, collect_summary, render_summary
from sniper_pipeline.warehouse.run_lock import warehouse_run_lock

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130  # 130: the shell's code for a stop by SIGINT
STEP_TEXT = {
    "snapshots_job": "reference endpoints",
    "coin_scan_job": "fetch, transform, score",
    "report_and_health_job": "health check and reports/signals.html",
}


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Keep stdout for the summary alone (`--json` must parse): logs of Dagster and of the dbt
    subprocess go to stderr, at the file-descriptor level."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@contextmanager
def _sigterm_as_sigint() -> Iterator[None]:
    """SIGTERM (a service manager's stop, `kill`) stops `sniper run` as Ctrl-C does: Dagster
    captures SIGINT while a run executes and turns it into an interruption of the current step."""

    def forward(signum: int, frame: FrameType | None) -> None:
        os.kill(os.getpid(), signal.SIGINT)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupted(result: Any) -> bool:
    """The run stopped because this process was interrupted (not because a step failed)."""
    return any(
        event.is_step_failure
        and getattr(event.event_specific_data.error, "cls_name", "") == "DagsterExecutionInterruptedError"
        for event in result.all_events
    ) or any("interrupted" in (event.message or "") for event in result.all_events if event.is_failure)


def _cancel(instance: Any, run_id: str) -> None:
    """Dagster records an interrupted in-process run as failed; it was a stop on request."""
    run = instance.get_run_by_id(run_id)
    if run is not None:
        instance.report_run_canceled(run, message="sniper run was stopped (Ctrl-C / SIGTERM)")
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)


def run_command(*, live: bool, replay_dir: Path | None, as_json: bool, coins: list[str] | None) -> int:
    # Bad input (warehouse URL, recordings, coin names) is refused before anything starts, and a
    # second `sniper run` on the same warehouse is refused while this one holds the lock.
    checked = preflight_run(live=live, replay_dir=replay_dir, coins=coins)
    with warehouse_run_lock(checked.warehouse), api_environment(live=live, replay_dir=replay_dir):
        # Imported here: definitions read the environment set up above.
        from dagster import DagsterInstance

        from sniper_pipeline.definitions import defs
        from sniper_pipeline.defs.ingest.partitions import coin_ranges, range_tags
        from sniper_pipeline.defs.ops.dead_runs import sweep_dead_runs
        from sniper_pipeline.defs.ops.jobs import COIN_SCAN_JOB, SNAPSHOTS_JOB
        from sniper_pipeline.defs.ops.report import FINALIZE_JOB
        from sniper_pipeline.runtime import cached_runtime

        runtime = cached_runtime()
        definitions = defs()
        instance = DagsterInstance.get()
        totals = RunTotals()
        selected = [c for c in runtime.partition_keys if checked.coins is None or c in checked.coins]

        for dead in sweep_dead_runs(instance, exclude_pid=os.getpid()):
            _progress(f"[recovery] {dead.describe()}")
        # (label, job, tags): snapshots, one scan run per contiguous range of coins, then the report.
        plan: list[tuple[str, str, dict[str, str]]] = [("snapshots", SNAPSHOTS_JOB, {})]
        for start, end in coin_ranges(runtime.partition_keys, selected):
            plan.append((start if start == end else f"{start}..{end}", COIN_SCAN_JOB, range_tags(start, end)))
        plan.append(("report", FINALIZE_JOB, {}))
        stopped = "sniper run: stopped on request; no further runs started"
        try:
            with _stdout_to_stderr(), _sigterm_as_sigint():
                for label, job_name, tags in plan:
                    _progress(f"[{label}] {STEP_TEXT.get(job_name, job_name)}")
                    result = definitions.resolve_job_def(job_name).execute_in_process(
                        instance=instance, tags=tags, raise_on_error=False
                    )
                    if _interrupted(result):
                        _cancel(instance, result.run_id)
                        print(f"{stopped}; run {result.run_id[:8]} ({label}) canceled", file=sys.stderr)
                        return EXIT_INTERRUPTED
                    totals.add(result, label)
        except KeyboardInterrupt:  # between runs: nothing is in progress
            print(stopped, file=sys.stderr)
            return EXIT_INTERRUPTED

        summary: dict[str, Any] = collect_summary(runtime, totals)
        if as_json:
            print(json.dumps(summary, indent=2, default=str))
        else:
            print(render_summary(summary))
        return EXIT_OK if summary["ok"] else EXIT_FAILED
