"""The daily API health check: one small request per layer source, recorded in `api_health`.

For the first configured coin with data, the first source of each of the four layers in the
active profile is asked for `limit=5` bars. A call fails when the code is not "0", when it takes
2 s or more, or when the plan's minute quota is used beyond `max_usage_share`. The configured
pairs must still resolve against the instruments snapshot."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from sniper_pipeline.coinglass.client import CoinGlassClient
from sniper_pipeline.coinglass.errors import CoinGlassError
from sniper_pipeline.ingest.runtime import Runtime
from sniper_pipeline.settings.layers import LAYERS
from sniper_pipeline.settings.timeutil import utc_now_naive
from sniper_pipeline.warehouse.tables import api_health, instruments
from sniper_pipeline.warehouse.upsert import upsert

MAX_LATENCY_MS = 2000.0


@dataclass(frozen=True)
class HealthRow:
    checked_at: datetime
    endpoint: str
    http_status: int | None
    code: str | None
    latency_ms: float
    rate_limit_used: int | None
    rate_limit_max: int | None
    ok: bool
    detail: str


def _judge(latency_ms: float, used: int | None, cap: int | None, max_share: float) -> list[str]:
    problems = []
    if latency_ms >= MAX_LATENCY_MS:
        problems.append(f"latency {latency_ms:.0f} ms >= {MAX_LATENCY_MS:.0f} ms")
    if used is not None and cap and used / cap > max_share:
        problems.append(f"rate limit {used}/{cap} used > {max_share:.0%}")
    return problems


def check_sources(client: CoinGlassClient, runtime: Runtime, max_usage_share: float = 0.8) -> list[HealthRow]:
    coin = next((c for c in runtime.coins.coins if c in runtime.partition_keys), None)
    coin = coin or next(iter(runtime.partition_keys), None)
    checked_at = utc_now_naive().replace(microsecond=0)
    rows: list[HealthRow] = []
    if coin is None:
        return [HealthRow(checked_at, "-", None, None, 0.0, None, None, False, "no coin has any source")]
    for layer in LAYERS:
        source = runtime.plans[coin].sources.get(layer)
        if source is None:
            rows.append(
                HealthRow(checked_at, f"{coin} {layer}", None, None, 0.0, None, None, False, "no source")
            )
            continue
        started = time.monotonic()
        try:
            response = client.request(source.endpoint, {**source.param_dict, "limit": 5})
        except CoinGlassError as exc:
            latency = (time.monotonic() - started) * 1000
            rows.append(
                HealthRow(
                    checked_at,
                    source.source_key,
                    exc.http_status,
                    exc.code,
                    latency,
                    client.rate_limit_used,
                    client.rate_limit_max,
                    False,
                    client.redact(str(exc))[:500],
                )
            )
            continue
        problems = _judge(
            response.latency_ms, response.rate_limit_used, response.rate_limit_max, max_usage_share
        )
        if response.code != "0":
            problems.insert(0, f"code {response.code}")
        rows.append(
            HealthRow(
                checked_at,
                source.source_key,
                response.http_status,
                response.code,
                response.latency_ms,
                response.rate_limit_used,
                response.rate_limit_max,
                not problems,
                "; ".join(problems) or "ok",
            )
        )
    return rows


def check_pairs(engine: Engine, runtime: Runtime, checked_at: datetime) -> list[HealthRow]:
    """Every configured pair source must name an instrument of the latest snapshot."""
    with engine.connect() as conn:
        known = {
            (r.exchange, r.instrument_id)
            for r in conn.execute(select(instruments.c.exchange, instruments.c.instrument_id))
        }
    rows = []
    for coin, plan in sorted(runtime.plans.items()):
        for source in plan.sources.values():
            params = source.param_dict if source else {}
            if not source or "exchange" not in params or not known:
                continue
            ok = (params["exchange"], params["symbol"]) in known
            rows.append(
                HealthRow(
                    checked_at,
                    f"pair {params['exchange']} {params['symbol']} ({coin} {source.layer})",
                    None,
                    None,
                    0.0,
                    None,
                    None,
                    ok,
                    "resolves" if ok else "not in the instruments snapshot",
                )
            )
    return rows


def record(engine: Engine, rows: list[HealthRow]) -> None:
    upsert(engine, api_health, [asdict(r) for r in rows])


def as_table(rows: list[HealthRow]) -> str:
    lines = [f"{'ok':<4} {'status':<6} {'code':<6} {'ms':>7} {'used/max':>10}  endpoint / detail"]
    for r in rows:
        quota = f"{r.rate_limit_used}/{r.rate_limit_max}" if r.rate_limit_max else "-"
        status, code = str(r.http_status or "-"), r.code or "-"
        flag = "yes" if r.ok else "NO"
        head = f"{flag:<4} {status:<6} {code:<6} {r.latency_ms:>7.0f} {quota:>10}"
        lines.append(f"{head}  {r.endpoint}  [{r.detail}]")
    return "\n".join(lines)


def summary_metadata(rows: list[HealthRow]) -> dict[str, Any]:
    return {
        "calls": len(rows),
        "failed": sum(not r.ok for r in rows),
        "max_latency_ms": max((r.latency_ms for r in rows), default=0.0),
    }
