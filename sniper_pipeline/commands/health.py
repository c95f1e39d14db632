"""`sniper health`: the daily health check from the shell; exit 1 when a call fails."""

from __future__ import annotations

from pathlib import Path

from sniper_pipeline.commands.environment import api_environment
from sniper_pipeline.ingest import health


def health_command(*, live: bool, replay_dir: Path | None, max_usage_share: float) -> int:
    with api_environment(live=live, replay_dir=replay_dir) as api:
        from sniper_pipeline.coinglass.client import CoinGlassClient
        from sniper_pipeline.ingest.runtime import api_key
        from sniper_pipeline.warehouse.engine import make_engine

        runtime = api.runtime()
        client = CoinGlassClient(runtime.base_url, api_key(runtime))
        engine = make_engine(runtime.warehouse)
        rows = health.check_sources(client, runtime, max_usage_share)
        rows += health.check_pairs(engine, runtime, rows[0].checked_at)
        health.record(engine, rows)
        print(health.as_table(rows))
        return 0 if all(r.ok for r in rows) else 1
