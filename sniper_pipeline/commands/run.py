"""`sniper run`: materialize the whole graph for every coin with data, then print a summary."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sniper_pipeline.commands.environment import api_environment
from sniper_pipeline.commands.summary import RunTotals, collect_summary, render_summary

EXIT_OK, EXIT_FAILED = 0, 1


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


def run_command(*, live: bool, replay_dir: Path | None, as_json: bool, coins: list[str] | None) -> int:
    with api_environment(live=live, replay_dir=replay_dir):
        # Imported here: definitions read the environment set up above.
        from dagster import DagsterInstance

        from sniper_pipeline.definitions import defs
        from sniper_pipeline.defs.ops.jobs import COIN_SCAN_JOB, SNAPSHOTS_JOB
        from sniper_pipeline.defs.ops.report import FINALIZE_JOB
        from sniper_pipeline.runtime import cached_runtime

        runtime = cached_runtime()
        definitions = defs()
        instance = DagsterInstance.get()
        totals = RunTotals()
        selected = runtime.partition_keys
        if coins:
            unknown = sorted({c.upper() for c in coins} - set(selected))
            if unknown:
                print(
                    f"sniper run: no data for {', '.join(unknown)}; coins with data: {', '.join(selected)}",
                    file=sys.stderr,
                )
                return 2
            selected = [c for c in selected if c in {x.upper() for x in coins}]

        with _stdout_to_stderr():
            _progress(f"[snapshots] reference endpoints ({runtime.profile})")
            snapshots_job = definitions.resolve_job_def(SNAPSHOTS_JOB)
            totals.add(snapshots_job.execute_in_process(instance=instance, raise_on_error=False))
            scan = definitions.resolve_job_def(COIN_SCAN_JOB)
            for i, coin in enumerate(selected, start=1):
                _progress(f"[{i}/{len(selected)}] {coin}: fetch, transform, score")
                result = scan.execute_in_process(partition_key=coin, instance=instance, raise_on_error=False)
                totals.add(result, coin)
            _progress("[report] health check and reports/signals.html")
            totals.add(
                definitions.resolve_job_def(FINALIZE_JOB).execute_in_process(
                    instance=instance, raise_on_error=False
                )
            )

        summary: dict[str, Any] = collect_summary(runtime, totals)
        if as_json:
            print(json.dumps(summary, indent=2, default=str))
        else:
            print(render_summary(summary))
        return EXIT_OK if summary["ok"] else EXIT_FAILED
