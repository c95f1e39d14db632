"""`sniper run`: materialize the whole graph for every coin with data, then print a summary."""

from __future__ import annotations

import json
import os
import signal
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from sniper_pipeline.commands.environment import api_environment
from sniper_pipeline.commands.loading import kept_for_the_command
from sniper_pipeline.commands.preflight import preflight_run
from sniper_pipeline.commands.progress import RunProgress
from sniper_pipeline.commands.summary import RunTotals, collect_summary, render_summary
from sniper_pipeline.settings.paths import data_dir
from sniper_pipeline.warehouse.run_lock import warehouse_run_lock

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130  # 130: the shell's code for a stop by SIGINT
STEP_TEXT = {
    "snapshots_job": "reference endpoints",
    "coin_scan_job": "fetch, transform, score",
    "report_and_health_job": "health check and reports/signals.html",
}
KEEP_LOGS = 100  # run logs kept under data/logs: a run every few minutes must not fill the disk


def _new_log_file() -> Path:
    folder = data_dir() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    for old in sorted(folder.glob("run-*.log"))[: -(KEEP_LOGS - 1)]:
        old.unlink(missing_ok=True)
    return folder / f"run-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.log"


@contextmanager
def _run_output(verbose: bool) -> Iterator[tuple[RunProgress, Path | None]]:
    """Stdout stays the summary's alone (`--json` must parse). Quiet (default): what Dagster, dbt
    (a subprocess) and anything else write to fds 1 and 2 goes to a log file under the data dir,
    and progress lines go to the original stderr. Verbose: all of it goes to stderr, as before.
    Redirected at the file-descriptor level, so subprocesses and cached stream objects follow."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    log_file: Path | None = None
    if verbose:
        os.dup2(2, 1)
        stream = sys.stderr
    else:
        log_file = _new_log_file()
        log_fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        encoding = getattr(sys.__stderr__, "encoding", None) or "utf-8"
        stream = os.fdopen(os.dup(saved_err), "w", encoding=encoding, errors="replace", buffering=1)
    # `-v` interleaves Dagster's logs with ours: no live line then
    progress = RunProgress(stream, live=not verbose and stream.isatty())
    try:
        yield progress, log_file
    finally:
        progress.close()
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)
        if stream is not sys.stderr:
            stream.close()


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


def run_command(
    *, live: bool, replay_dir: Path | None, as_json: bool, coins: list[str] | None, verbose: bool = False
) -> int:
    # Bad input (warehouse URL, recordings, coin names) is refused before anything starts, and a
    # second `sniper run` on the same warehouse is refused while this one holds the lock.
    checked = preflight_run(live=live, replay_dir=replay_dir, coins=coins)
    with (
        warehouse_run_lock(checked.warehouse),
        api_environment(live=live, replay_dir=replay_dir) as api,
        _run_output(verbose) as (progress, log_file),
    ):
        if log_file is not None:
            progress.line(f"log: {log_file}")
        with kept_for_the_command():
            # Imported here: Dagster is slow to import, and a refused command never needs it.
            from dagster import DagsterInstance
            from dagster._core.instance.ref import InstanceRef

            from sniper_pipeline.definitions import build_defs
            from sniper_pipeline.defs.ingest.partitions import coin_ranges, range_tags
            from sniper_pipeline.defs.ops.dead_runs import sweep_dead_runs
            from sniper_pipeline.defs.ops.jobs import COIN_SCAN_JOB, SNAPSHOTS_JOB
            from sniper_pipeline.defs.ops.pools import create_pool_limits, definition_pools
            from sniper_pipeline.defs.ops.report import FINALIZE_JOB

            # The runs execute in this process, on definitions built for this API and warehouse.
            runtime = api.runtime(checked.warehouse)
            definitions = build_defs(runtime)
            instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(api.dagster_home)))
        totals = RunTotals()
        selected = [c for c in runtime.partition_keys if checked.coins is None or c in checked.coins]

        for dead in sweep_dead_runs(instance, exclude_pid=os.getpid()):
            progress.line(f"[recovery] {dead.describe()}")
        create_pool_limits(instance, definition_pools(definitions))
        # (label, job, tags): snapshots, one scan run per contiguous range of coins, then the report.
        plan: list[tuple[str, str, dict[str, str]]] = [("snapshots", SNAPSHOTS_JOB, {})]
        for start, end in coin_ranges(runtime.partition_keys, selected):
            plan.append((start if start == end else f"{start}..{end}", COIN_SCAN_JOB, range_tags(start, end)))
        plan.append(("report", FINALIZE_JOB, {}))
        stopped = "sniper run: stopped on request; no further runs started"
        try:
            with _sigterm_as_sigint():
                for label, job_name, tags in plan:
                    what = STEP_TEXT.get(job_name, job_name)
                    if verbose:
                        progress.line(f"[{label}] {what}")
                    # The run id is chosen here so the progress display hears the run's events.
                    run_id = str(uuid.uuid4())
                    instance.add_event_listener(run_id, progress.on_event)
                    progress.start_job(f"scan {label}" if job_name == COIN_SCAN_JOB else label, what)
                    result = definitions.resolve_job_def(job_name).execute_in_process(
                        instance=instance, tags=tags, raise_on_error=False, run_id=run_id
                    )
                    interrupted = _interrupted(result)
                    progress.finish_job(result.success, "stopped" if interrupted else None)
                    if interrupted:
                        _cancel(instance, result.run_id)
                        progress.line(f"{stopped}; run {result.run_id[:8]} ({label}) canceled")
                        return EXIT_INTERRUPTED
                    totals.add(result, label)
        except KeyboardInterrupt:  # between runs: nothing is in progress
            progress.close()
            progress.line(stopped)
            return EXIT_INTERRUPTED

        summary: dict[str, Any] = collect_summary(runtime, totals, log_file)
    # Printed once fds 1 and 2 are back (and the warehouse lock is released).
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print(render_summary(summary))
    return EXIT_OK if summary["ok"] else EXIT_FAILED
