"""What `sniper run` tells the operator: per coin and layer, the source, bars and first/last bar;
then each failed run, failed check and warning in one line with its cause and remedy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster import AssetCheckSeverity, DagsterEventType
from dagster_shared.error import SerializableErrorInfo
from sqlalchemy import func, inspect, select

from sniper_pipeline.commands.remedies import ERROR, WARNING, Problem, explain_check, explain_run_failure
from sniper_pipeline.ingest.layers import LAYER_TABLES
from sniper_pipeline.ingest.runtime import Runtime
from sniper_pipeline.settings.layers import LAYERS
from sniper_pipeline.settings.paths import reports_dir
from sniper_pipeline.warehouse.engine import make_engine
from sniper_pipeline.warehouse.tables import alert_events


def _plain(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Dagster metadata values (JsonMetadataValue, IntMetadataValue, ...) as plain values."""
    return {key: getattr(value, "value", value) for key, value in metadata.items()}


def _merge(into: dict[str, Any], more: Mapping[str, Any]) -> None:
    """One check over several scan runs: its per-coin dicts and lists add up."""
    for key, value in more.items():
        old = into.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            into[key] = {**old, **value}
        elif isinstance(old, list) and isinstance(value, list):
            into[key] = old + value
        else:
            into[key] = value


@dataclass
class _FailedCheck:
    asset: str
    check: str
    severity: str
    descriptions: list[str]
    metadata: dict[str, Any]

    def explain(self) -> Problem:
        return explain_check(
            self.asset,
            self.check,
            severity=self.severity,
            description="; ".join(self.descriptions) or None,
            metadata=self.metadata,
        )


def _root_error(error: SerializableErrorInfo | None) -> SerializableErrorInfo | None:
    """The innermost cause of a step failure; Dagster wraps the user's exception, and a client
    error may wrap a library one: the innermost message that carries a remedy wins."""
    chain = []
    while error is not None:
        chain.append(error)
        error = error.cause
    return next((e for e in reversed(chain) if ". Remedy: " in e.message), chain[-1] if chain else None)


def _run_failures(result: Any, label: str) -> list[Problem]:
    """Each failed step of a run, explained by its root error (or by the coins it held back)."""
    events = result.all_events
    # Why each coin was held back, from the failed ERROR checks of the raw tables (`fetched`
    # carries the client's error): the structured form of what a step's `Failure` text repeats.
    rejected: dict[str, str] = {}
    for event in events:
        evaluation = event.event_specific_data if event.event_type_value == "ASSET_CHECK_EVALUATION" else None
        if evaluation is None or evaluation.passed or evaluation.severity != AssetCheckSeverity.ERROR:
            continue
        failed = _plain(evaluation.metadata).get("coins_failed")
        asset, check = evaluation.asset_key.to_user_string(), evaluation.check_name
        for coin, text in (failed if isinstance(failed, dict) else {}).items():
            reason = f"fetch failed: {text}" if check == "fetched" else f"{check}: {text}"
            rejected.setdefault(coin, f"{asset}: {reason}")
    problems: list[Problem] = []
    for event in events:
        if not (event.is_step_failure and event.event_specific_data):
            continue
        data = event.event_specific_data
        root = _root_error(data.error)
        user = data.user_failure_data
        blocked = _plain(user.metadata).get("blocked") if user is not None else None
        message = root.message if root else (user.description if user and user.description else "failed")
        if root is not None and root.cls_name == "Failure" and not blocked:
            # e.g. "every fetch of this scan failed or was rejected: raw_funding BTC: ..."
            blocked = {coin: reason for coin, reason in rejected.items() if coin in message} or None
        problems += explain_run_failure(
            label,
            result.run_id,
            event.step_key,
            root.cls_name if root else None,
            message,
            blocked if isinstance(blocked, dict) else None,
        )
    if not problems:  # the run failed outside any step (e.g. a resource did not start)
        failure = next((e for e in events if e.event_type == DagsterEventType.RUN_FAILURE), None)
        root = _root_error(getattr(failure.event_specific_data, "error", None) if failure else None)
        message = root.message if root else (failure.message if failure and failure.message else "failed")
        problems += explain_run_failure(label, result.run_id, None, root.cls_name if root else None, message)
    return problems


@dataclass
class RunTotals:
    """Totals over the Dagster runs of one `sniper run`."""

    runs: int = 0
    failed_runs: list[Problem] = field(default_factory=list)
    # (asset, check) -> the check's failures over every run, merged: a check over coins
    # split across several scan runs is one line
    checks: dict[tuple[str, str], _FailedCheck] = field(default_factory=dict)
    rows_new: int = 0
    rows_updated: int = 0

    def add(self, result: Any, label: str = "snapshots") -> None:
        self.runs += 1
        if not result.success:
            self.failed_runs += _run_failures(result, label)
        for event in result.all_events:
            if event.event_type_value == "ASSET_CHECK_EVALUATION":
                evaluation = event.event_specific_data
                if not evaluation.passed:
                    asset = evaluation.asset_key.to_user_string()
                    # WARN checks (e.g. freshness) are reported; only ERROR checks fail the run.
                    is_warn = evaluation.severity == AssetCheckSeverity.WARN
                    failed = self.checks.setdefault(
                        (asset, evaluation.check_name),
                        _FailedCheck(asset, evaluation.check_name, WARNING, [], {}),
                    )
                    if not is_warn:
                        failed.severity = ERROR
                    if evaluation.description:
                        failed.descriptions.append(evaluation.description)
                    _merge(failed.metadata, _plain(evaluation.metadata))
            if event.is_step_materialization:
                meta = event.step_materialization_data.materialization.metadata
                self.rows_new += int(getattr(meta.get("rows_new"), "value", 0) or 0)
                self.rows_updated += int(getattr(meta.get("rows_updated"), "value", 0) or 0)

    def check_problems(self) -> list[Problem]:
        return [failed.explain() for failed in self.checks.values()]

    @property
    def failed_checks(self) -> list[Problem]:
        return [p for p in self.check_problems() if p.severity == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.check_problems() if p.severity == WARNING]


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


def collect_summary(runtime: Runtime, totals: RunTotals, log_file: Path | None = None) -> dict[str, Any]:
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
    failed_checks, warnings = totals.failed_checks, totals.warnings
    return {
        "ok": not totals.failed_runs and not failed_checks,
        "profile": runtime.profile,
        "recordings": str(runtime.replay_dir) if runtime.replay_dir else None,
        "warehouse": runtime.warehouse.redacted(),
        "runs": totals.runs,
        # One line each: cause (coins, figures) and remedy; `problems` holds the same with
        # structured fields (step, error class, message, endpoint, coins).
        "failed_runs": [p.line for p in totals.failed_runs],
        "failed_checks": [p.line for p in failed_checks],
        "check_warnings": [p.line for p in warnings],
        "problems": [p.as_dict() for p in (*totals.failed_runs, *failed_checks, *warnings)],
        "log_file": str(log_file) if log_file else None,
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
