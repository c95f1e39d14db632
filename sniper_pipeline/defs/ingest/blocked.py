"""Which coins of this run had a raw frame blocked: the signal steps skip them, so a coin with
bad or missing data raises no alert from a half-updated warehouse while the others go on."""

from __future__ import annotations

import json

import dagster as dg

from sniper_pipeline.defs.ingest.assets import BLOCKED_COINS, LAYER_ASSETS

CONFIG_SANE = "config_sane"  # a check of percentile_configs; ERROR entries name coins to skip


def blocked_coins(context: dg.AssetExecutionContext) -> dict[str, str]:
    """coin -> reason, from this run's raw materializations (empty when no raw step ran) and its
    percentile-config sanity errors (implausible thresholds must not raise alerts)."""
    raw_assets = set(LAYER_ASSETS.values())
    blocked: dict[str, str] = {}
    for entry in context.instance.all_logs(
        context.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ):
        evaluation = entry.dagster_event.event_specific_data if entry.dagster_event else None
        if getattr(evaluation, "check_name", None) != CONFIG_SANE:
            continue
        errors = getattr(evaluation.metadata.get("errors"), "value", None) or {}  # type: ignore[union-attr]
        for coin, problems in errors.items():
            blocked.setdefault(coin, f"percentile_configs: {', '.join(problems)}")
    for entry in context.instance.all_logs(context.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        materialization = entry.asset_materialization
        if materialization is None or materialization.asset_key.to_user_string() not in raw_assets:
            continue
        value = materialization.metadata.get(BLOCKED_COINS)
        text = getattr(value, "value", value)
        for coin, reason in json.loads(str(text or "{}")).items():
            blocked.setdefault(coin, f"{materialization.asset_key.to_user_string()}: {reason}")
    return blocked
