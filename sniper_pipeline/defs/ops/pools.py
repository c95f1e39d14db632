"""Dagster creates a pool's limit row lazily, on the first step that claims the pool. On
PostgreSQL two runs starting at once can both try, and the loser's run fails on the unique key
(`concurrency_limits_concurrency_key_key`). Creating every pool's row once, before runs go
parallel, removes the race; `sniper run` and `sniper serve` do it at start, and
`python -m sniper_pipeline.commands.pools` for deployments that start runs without `sniper`."""

from __future__ import annotations

import dagster as dg


def definition_pools(definitions: dg.Definitions) -> set[str]:
    """Every pool a step of these definitions' jobs claims."""
    return set().union(*(job.graph.pools for job in definitions.resolve_all_job_defs()))


def create_pool_limits(instance: dg.DagsterInstance, pools: set[str]) -> None:
    """Give each pool its configured default limit now (a no-op for pools that have one)."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return
    for pool in sorted(pools):
        storage.initialize_concurrency_limit_to_default(pool)
