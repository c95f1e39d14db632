"""Signal assets, coin-partitioned, one step each per scan over all its coins: the percentile
config snapshots, the engine run that writes layer_signals, confluence_signals and alert_events,
and the outbox. The engine is plain Python; this file only reads the mart, calls it and writes
the results. Coins whose raw data was blocked this run are skipped."""

from datetime import datetime
from typing import Any

import dagster as dg
import pandas as pd

from sniper_pipeline.defs.ingest.blocked import CONFIG_SANE, blocked_coins
from sniper_pipeline.defs.ingest.partitions import SCAN_BACKFILL_POLICY, coin_partitions
from sniper_pipeline.defs.ingest.resources import CoinGlassResource, WarehouseResource
from sniper_pipeline.defs.ops.resources import AlertDeliveryResource
from sniper_pipeline.engine import EngineParams, config_sanity, run_engine_many
from sniper_pipeline.engine.columns import STATE_COLUMNS
from sniper_pipeline.ingest.runtime import Runtime
from sniper_pipeline.settings.paths import config_dir
from sniper_pipeline.settings.timeutil import naive_utc, utc_now_naive
from sniper_pipeline.signals.configgen import NoBarsError, UniversalConfigGenerator
from sniper_pipeline.signals.settings import load_engine_params
from sniper_pipeline.stream.thresholds import thresholds_path, update_threshold
from sniper_pipeline.warehouse.bars import load_bars_by_coin
from sniper_pipeline.warehouse.signals import (
    insert_alert_events,
    load_alert_events,
    replace_coin_rows,
    store_percentile_config,
)

# confluence_signals: the engine's per-bar state; layer_signals: the rest (values, thresholds, levels).
CONFLUENCE_COLUMNS = ("coin", "interval", "ts", *STATE_COLUMNS)
LAYER_COLUMNS_DROPPED_FROM_CONFLUENCE = ("tier", "direction", "episode_id", "layers_triggered")


def _now() -> datetime:
    return utc_now_naive()


def _sanity(config: dict[str, Any], params: EngineParams) -> tuple[list[str], list[str]]:
    """(errors, warnings): implausible values on a full window are errors; too little history
    for a layer is only a warning."""
    full = [m for m in config["metrics"] if m["p_watch"] is not None and m["n_bars"] >= m["lookback_bars"]]
    errors = config_sanity(full, params.sanity)
    return errors, [p for p in config["problems"] if p not in errors]


class _LoadedBars:
    """A BarSource over bars already read for the whole scan (one query, not one per coin)."""

    def __init__(self, bars: dict[str, pd.DataFrame]) -> None:
        self._bars = bars

    def bars(self, coin: str) -> pd.DataFrame:
        return self._bars.get(coin, pd.DataFrame())


def _scan_coins(context: dg.AssetExecutionContext) -> tuple[list[str], dict[str, str]]:
    """The run's coins that may be scored, and the blocked ones with why."""
    blocked = blocked_coins(context)
    for coin, reason in sorted(blocked.items()):
        context.log.warning(f"{coin}: skipped, its raw data was not written this run ({reason})")
    return [c for c in context.partition_keys if c not in blocked], blocked


def build_signal_assets(runtime: Runtime) -> list[dg.AssetsDefinition]:
    params = load_engine_params(config_dir())
    common: dict[str, Any] = {
        "partitions_def": coin_partitions(runtime),
        "backfill_policy": SCAN_BACKFILL_POLICY,
        "pool": "duckdb" if runtime.uses_duckdb else None,
    }

    @dg.asset(
        name="percentile_configs",
        group_name="signals",
        deps=["fct_layer_bars"],
        kinds={"python"},
        check_specs=[
            dg.AssetCheckSpec(
                CONFIG_SANE,
                asset="percentile_configs",
                description=(
                    "Every coin's percentile thresholds are plausible and rest on a full lookback "
                    "window. Implausible thresholds (ERROR) would alert on noise or never: the coin is "
                    "neither scored nor alerted this scan. Too little history for a layer only warns."
                ),
            )
        ],
        description="p85/p95/p99 (p15/p5/p1) per metric as of the last closed bar, derived per coin.",
        **common,
    )
    def percentile_configs(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Any:
        coins, _ = _scan_coins(context)
        engine = warehouse.engine()
        generator = UniversalConfigGenerator(_LoadedBars(load_bars_by_coin(engine, coins)), params)
        configs, missing = {}, []
        for coin in coins:
            try:
                configs[coin] = generator.generate_config(coin)
            except NoBarsError:
                missing.append(coin)
        errors: dict[str, list[str]] = {}
        warnings: dict[str, list[str]] = {}
        for coin, config in configs.items():
            written = store_percentile_config(engine, config, _now())
            # The stream sensor compares streamed liquidations with this action threshold.
            liq = next((m for m in config["metrics"] if m["metric"] == "liq_total_usd"), None)
            update_threshold(thresholds_path(), coin, liq["p_action"] if liq else None, config["interval"])
            coin_errors, coin_warnings = _sanity(config, params)
            if coin_errors:
                errors[coin] = coin_errors
            if coin_warnings:
                warnings[coin] = coin_warnings
            context.add_asset_metadata(
                {
                    **written.as_metadata(),
                    "data_through": str(config["metrics"][0]["data_through"]) if config["metrics"] else "",
                    "params_hash": config["params_hash"],
                    "sources_hash": config["sources_hash"],
                },
                partition_key=coin,
            )
        yield dg.AssetCheckResult(
            check_name=CONFIG_SANE,
            passed=not errors and not warnings,
            # Implausible values fail (ERROR); too little history for a layer only warns.
            severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
            description="; ".join(f"{c}: {', '.join(p)}" for c, p in sorted({**warnings, **errors}.items()))
            or None,
            metadata={"errors": errors, "warnings": warnings},
        )
        if missing and not configs:
            raise dg.Failure(description=f"no bars in fct_layer_bars for {', '.join(missing)}")
        yield dg.MaterializeResult(metadata={"coins": len(configs), "coins_without_bars": missing})

    @dg.multi_asset(
        name="score_coins",
        group_name="signals",
        specs=[
            dg.AssetSpec(
                "layer_signals",
                deps=["fct_layer_bars"],
                kinds={"python"},
                description="Per bar: each layer's value, thresholds in force and level.",
            ),
            dg.AssetSpec(
                "confluence_signals",
                deps=["fct_layer_bars"],
                kinds={"python"},
                description="Per bar: tier, direction, tightening and episode.",
            ),
            dg.AssetSpec(
                "alert_events",
                deps=["fct_layer_bars", "percentile_configs"],
                kinds={"python"},
                description="open/upgrade/escalate/close, decided once per dedup key.",
            ),
        ],
        **common,
    )
    def score_coins(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Any:
        coins, _ = _scan_coins(context)
        engine = warehouse.engine()
        bars = load_bars_by_coin(engine, coins)
        if coins and not bars:
            raise dg.Failure(
                description=f"fct_layer_bars has no bars for {', '.join(coins)}; nothing to score"
            )
        if not bars:  # every coin of the run was blocked: nothing to score, nothing replaced
            for key in ("layer_signals", "confluence_signals", "alert_events"):
                yield dg.MaterializeResult(asset_key=key, metadata={"coins": 0})
            return
        batch = run_engine_many(bars, params)  # every coin at once: one frame each for all
        signals, events = batch.signals, batch.events
        results = {coin: batch.result(coin) for coin in bars}
        scored = list(results)
        replace_coin_rows(
            engine, "layer_signals", scored, signals.drop(columns=list(LAYER_COLUMNS_DROPPED_FROM_CONFLUENCE))
        )
        replace_coin_rows(engine, "confluence_signals", scored, signals[list(CONFLUENCE_COLUMNS)])
        written = insert_alert_events(engine, events, run_id=context.run_id, decided_at=_now())
        for coin, result in results.items():
            tiers = result.signals["tier"].value_counts().to_dict()
            context.add_asset_metadata(
                {"bars": len(result.signals)}, asset_key="layer_signals", partition_key=coin
            )
            context.add_asset_metadata(
                {"watch_bars": int(tiers.get("watch", 0)), "action_bars": int(tiers.get("action", 0))},
                asset_key="confluence_signals",
                partition_key=coin,
            )
            context.add_asset_metadata(
                {"events": len(result.events), "open_episode": str(result.state.episode_id)},
                asset_key="alert_events",
                partition_key=coin,
            )
        yield dg.MaterializeResult(
            asset_key="layer_signals", metadata={"bars": len(signals), "coins": len(scored)}
        )
        tiers = signals["tier"].value_counts().to_dict()
        yield dg.MaterializeResult(
            asset_key="confluence_signals",
            metadata={"watch_bars": int(tiers.get("watch", 0)), "action_bars": int(tiers.get("action", 0))},
        )
        yield dg.MaterializeResult(
            asset_key="alert_events", metadata={"events": len(events), "events_new": written.new}
        )

    @dg.asset(
        name="alert_outbox",
        group_name="signals",
        deps=["alert_events"],
        kinds={"apprise"},
        description="One outbox row per (event, channel); due rows are sent through apprise.",
        **common,
    )
    def alert_outbox(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        alert_delivery: AlertDeliveryResource,
        coinglass: CoinGlassResource,
    ) -> dg.MaterializeResult:
        coins, blocked = _scan_coins(context)
        engine = warehouse.engine()
        events = load_alert_events(engine, coins)
        now = naive_utc(coinglass.client().now())
        counts = [
            alert_delivery.enqueue(
                engine, events[events["coin"] == coin], runtime.plans[coin].grid_interval, now
            )
            for coin in coins
        ]
        report = alert_delivery.deliver_due(engine, now)
        if report.errors:
            context.log.warning(f"delivery errors (will retry): {report.errors[:5]}")
        total: dict[str, int] = {}  # each coin's counts name only what it had
        for coin_counts in counts:
            for key, value in coin_counts.as_metadata().items():
                total[key] = total.get(key, 0) + int(value)
        if blocked:
            # The other coins were scored and their alerts sent; the run still ends failed, so
            # the run list, the ops channel and `sniper run` show what was held back and why.
            raise dg.Failure(
                description="blocked this run, nothing written or scored for: "
                + "; ".join(f"{coin} ({reason})" for coin, reason in sorted(blocked.items())),
                metadata={**total, **report.as_metadata(), "blocked": blocked},
            )
        return dg.MaterializeResult(metadata={**total, **report.as_metadata()})

    return [percentile_configs, score_coins, alert_outbox]


def area_defs(runtime: Runtime) -> dg.Definitions:
    return dg.Definitions(assets=build_signal_assets(runtime))
