"""What `sniper run` tells the operator: per coin and layer, the source, bars and first/last bar."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dagster import AssetCheckSeverity
from sqlalchemy import func, inspect, select

from sniper_pipeline.ingest.layers import LAYER_TABLES
from sniper_pipeline.runtime import Runtime
from sniper_pipeline.settings.layers import LAYERS
from sniper_pipeline.settings.paths import reports_dir
from sniper_pipeline.warehouse.engine import make_engine
from sniper_pipeline.warehouse.tables import alert_events


@dataclass
class RunTotals:
    """Totals over the Dagster runs of one `sniper run`."""

    runs: int = 0
    failed_runs: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rows_new: int = 0
    rows_updated: int = 0

    def add(self, result: Any, label: str = "snapshots") -> None:
        self.runs += 1
        if not result.success:
            errors = [
                f"{e.step_key}: {e.event_specific_data.error.message.strip().splitlines()[0]}"
                for e in result.all_events
                if e.is_step_failure and e.event_specific_data and e.event_specific_data.error
            ]
            self.failed_runs.append(f"{label} (run {result.run_id[:8]}): {'; '.join(errors) or 'failed'}")
        for event in result.all_events:
            if event.event_type_value == "ASSET_CHECK_EVALUATION":
                evaluation = event.event_specific_data
                if not evaluation.passed:
                    text = f"{label}: {evaluation.asset_key.to_user_string()} {evaluation.check_name}"
                    # WARN checks (e.g. freshness) are reported; only ERROR checks fail the run.
                    is_warn = evaluation.severity == AssetCheckSeverity.WARN
                    (self.warnings if is_warn else self.failed_checks).append(text)
            if event.is_step_materialization:
                meta = event.step_materialization_data.materialization.metadata
                self.rows_new += int(getattr(meta.get("rows_new"), "value", 0) or 0)
                self.rows_updated += int(getattr(meta.get("rows_updated"), "value", 0) or 0)


def _layer_rows(runtime: Runtime) -> dict[str, dict[str, dict[str, Any]]]:
    engine = make_engine(runtime.warehouse)
    existing = set(inspect(engine).get_table_names())
    out: dict[str, dict[str, dict[str, Any]]] = {}
    with engine.connect() as conn:
        for coin, plan in sorted(runtime.plans.items()):
            layers: dict[str, dict[str, Any]] = {}
            for layer in (*LAYERS, "price"):
                source = plan.sources.get(layer)
                if source is None:
                    layers[layer] = {"source": None}
                    continue
                table = LAYER_TABLES[layer]
                row = conn.execute(
                    select(func.count(), func.min(table.c.ts), func.max(table.c.ts)).where(
                        table.c.coin == coin,
                        table.c.source_key == source.source_key,
                        table.c.interval == source.interval,
                    )
                ).one()
                layers[layer] = {
                    "source": source.source_key,
                    "interval": source.interval,
                    "bars": int(row[0]),
                    "first_bar": row[1],
                    "last_bar": row[2],
                }
            if "fct_layer_bars" in existing:
                layers["_scored_bars"] = {
                    "bars": conn.exec_driver_sql(
                        "select count(*) from fct_layer_bars where coin = ?"
                        if runtime.uses_duckdb
                        else "select count(*) from fct_layer_bars where coin = %s",
                        (coin,),
                    ).scalar()
                }
            out[coin] = layers
    engine.dispose()
    return out


def _alerts(runtime: Runtime) -> dict[str, Any]:
    """Alert events by coin and tier, and the latest ten."""
    engine = make_engine(runtime.warehouse)
    by_tier: dict[str, dict[str, int]] = {}
    latest: list[dict[str, Any]] = []
    with engine.connect() as conn:
        counts = conn.execute(
            select(alert_events.c.coin, alert_events.c.tier, func.count())
            .where(alert_events.c.event.in_(("open", "upgrade")))
            .group_by(alert_events.c.coin, alert_events.c.tier)
        ).all()
        for coin, tier, n in counts:
            by_tier.setdefault(str(coin), {})[str(tier)] = int(str(n))
        recent = conn.execute(
            select(alert_events).order_by(alert_events.c.bar_ts.desc(), alert_events.c.dedup_key).limit(10)
        ).mappings()
        latest = [
            {k: row[k] for k in ("coin", "event", "tier", "direction", "bar_ts", "interval")}
            for row in recent
        ]
    engine.dispose()
    return {"alerts_by_coin_and_tier": by_tier, "latest_alerts": latest}


def collect_summary(runtime: Runtime, totals: RunTotals) -> dict[str, Any]:
    coins = {}
    rows = _layer_rows(runtime)
    for coin, plan in sorted(runtime.plans.items()):
        layers = rows.get(coin, {})
        scored = layers.pop("_scored_bars", {}).get("bars", 0)
        coins[coin] = {
            "configured": not plan.extra,
            "extra": plan.extra,
            "grid_interval": plan.grid_interval,
            "scored_bars": scored,
            "layers": layers,
            "missing_layers": plan.missing_layers,
        }
    return {
        "ok": not totals.failed_runs and not totals.failed_checks,
        "profile": runtime.profile,
        "recordings": str(runtime.replay_dir) if runtime.replay_dir else None,
        "warehouse": runtime.warehouse.redacted(),
        "runs": totals.runs,
        "failed_runs": totals.failed_runs,
        "failed_checks": totals.failed_checks,
        "check_warnings": totals.warnings,
        "rows_new": totals.rows_new,
        "rows_updated": totals.rows_updated,
        "coins": coins,
        **_alerts(runtime),
        "report": str(reports_dir() / "signals.html") if (reports_dir() / "signals.html").exists() else None,
    }


def _fmt_ts(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def render_summary(summary: dict[str, Any]) -> str:
    lines = [f"sniper run ({summary['profile']}) -> {summary['warehouse']}"]
    for coin, info in summary["coins"].items():
        tag = " (extra: in the recordings, not in coins.yaml)" if info["extra"] else ""
        if all(layer["source"] is None for layer in info["layers"].values()):
            lines.append(f"{coin}{tag}: no data for any layer")
            continue
        lines.append(
            f"{coin}{tag}: grid {info['grid_interval']}, {info['scored_bars']} bars in fct_layer_bars"
        )
        for layer, data in info["layers"].items():
            if data["source"] is None:
                lines.append(f"  {layer:<14} no data (no configured source recorded)")
            else:
                lines.append(
                    f"  {layer:<14} {data['bars']:>5} bars  {_fmt_ts(data['first_bar'])} .. "
                    f"{_fmt_ts(data['last_bar'])}  {data['source']}"
                )
    lines.append("alerts (episodes opened or upgraded, by tier):")
    for coin, tiers in sorted(summary["alerts_by_coin_and_tier"].items()):
        lines.append(f"  {coin:<6} " + ", ".join(f"{tier} {n}" for tier, n in sorted(tiers.items())))
    if summary["latest_alerts"]:
        lines.append("latest alerts:")
        for alert in summary["latest_alerts"]:
            lines.append(
                f"  {_fmt_ts(alert['bar_ts'])} {alert['coin']:<6} {alert['event']:<21} {alert['tier']:<7} "
                f"{alert['direction']}"
            )
    if summary["rows_new"] or summary["rows_updated"]:
        lines.append(f"rows: {summary['rows_new']} new, {summary['rows_updated']} updated")
    else:
        lines.append("rows: no new or changed rows (the warehouse was already up to date)")
    if summary["report"]:
        lines.append(f"report: {summary['report']}")
    for failure in summary["failed_runs"]:
        lines.append(f"FAILED run: {failure}")
    for failure in summary["failed_checks"]:
        lines.append(f"FAILED check: {failure}")
    for warning in summary["check_warnings"]:
        lines.append(f"warning: {warning}")
    return "\n".join(lines)
