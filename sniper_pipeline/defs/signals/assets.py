"""Signal assets per coin: the percentile config snapshot, and one engine run that writes
layer_signals, confluence_signals and alert_events. The engine is plain Python; this file only
reads the mart, calls it and writes the results."""

from datetime import UTC, datetime
from typing import Any

import dagster as dg

from sniper_pipeline.configgen import NoBarsError, UniversalConfigGenerator, WarehouseBars
from sniper_pipeline.defs.ingest.partitions import coin_partitions
from sniper_pipeline.defs.ingest.resources import CoinGlassResource, WarehouseResource
from sniper_pipeline.defs.ops.resources import AlertDeliveryResource
from sniper_pipeline.engine import EngineParams, config_sanity, run_engine
from sniper_pipeline.engine.pipeline import STATE_COLUMNS
from sniper_pipeline.runtime import Runtime, cached_runtime
from sniper_pipeline.settings.paths import config_dir
from sniper_pipeline.settings.signals import load_engine_params
from sniper_pipeline.stream.thresholds import thresholds_path, update_threshold
from sniper_pipeline.warehouse.bars import load_layer_bars
from sniper_pipeline.warehouse.signals import (
    insert_alert_events,
    load_alert_events,
    replace_coin_rows,
    store_percentile_config,
)

CONFIG_SANE = "config_sane"
# confluence_signals: the engine's per-bar state; layer_signals: the rest (values, thresholds, levels).
CONFLUENCE_COLUMNS = ("coin", "interval", "ts", *STATE_COLUMNS)
LAYER_COLUMNS_DROPPED_FROM_CONFLUENCE = ("tier", "direction", "episode_id", "layers_triggered")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _sanity(config: dict[str, Any], params: EngineParams) -> dg.AssetCheckResult:
    """Implausible values fail (ERROR); too little history for a layer only warns."""
    full = [m for m in config["metrics"] if m["p_watch"] is not None and m["n_bars"] >= m["lookback_bars"]]
    errors = config_sanity(full, params.sanity)
    warnings = [p for p in config["problems"] if p not in errors]
    return dg.AssetCheckResult(
        check_name=CONFIG_SANE,
        passed=not errors and not warnings,
        severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
        metadata={"errors": errors, "warnings": warnings},
    )


def build_signal_assets(runtime: Runtime) -> list[dg.AssetsDefinition]:
    params = load_engine_params(config_dir())
    common: dict[str, Any] = {
        "partitions_def": coin_partitions(runtime),
        "pool": "duckdb" if runtime.uses_duckdb else None,
    }

    @dg.asset(
        name="percentile_configs",
        group_name="signals",
        deps=["fct_layer_bars"],
        kinds={"python"},
        check_specs=[dg.AssetCheckSpec(CONFIG_SANE, asset="percentile_configs", blocking=True)],
        description="p85/p95/p99 (p15/p5/p1) per metric as of the last closed bar, derived per coin.",
        **common,
    )
    def percentile_configs(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Any:
        coin = context.partition_key
        engine = warehouse.engine()
        try:
            config = UniversalConfigGenerator(WarehouseBars(engine), params).generate_config(coin)
        except NoBarsError as exc:
            raise dg.Failure(description=str(exc)) from None
        written = store_percentile_config(engine, config, _now())
        # The stream sensor compares streamed liquidations with this action threshold.
        liq = next((m for m in config["metrics"] if m["metric"] == "liq_total_usd"), None)
        update_threshold(thresholds_path(), coin, liq["p_action"] if liq else None, config["interval"])
        yield _sanity(config, params)
        yield dg.MaterializeResult(
            metadata={
                **written.as_metadata(),
                "data_through": str(config["metrics"][0]["data_through"]) if config["metrics"] else "",
                "params_hash": config["params_hash"],
                "sources_hash": config["sources_hash"],
            }
        )

    @dg.multi_asset(
        name="score_coin",
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
    def score_coin(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Any:
        coin = context.partition_key
        engine = warehouse.engine()
        bars = load_layer_bars(engine, coin)
        if bars.empty:
            raise dg.Failure(description=f"{coin}: fct_layer_bars has no bars; nothing to score")
        result = run_engine(bars, params)
        signals = result.signals
        replace_coin_rows(
            engine, "layer_signals", coin, signals.drop(columns=list(LAYER_COLUMNS_DROPPED_FROM_CONFLUENCE))
        )
        replace_coin_rows(engine, "confluence_signals", coin, signals[list(CONFLUENCE_COLUMNS)])
        written = insert_alert_events(engine, result.events, run_id=context.run_id, decided_at=_now())
        tiers = signals["tier"].value_counts().to_dict()
        yield dg.MaterializeResult(asset_key="layer_signals", metadata={"bars": len(signals)})
        yield dg.MaterializeResult(
            asset_key="confluence_signals",
            metadata={"watch_bars": int(tiers.get("watch", 0)), "action_bars": int(tiers.get("action", 0))},
        )
        yield dg.MaterializeResult(
            asset_key="alert_events",
            metadata={
                "events": len(result.events),
                "events_new": written.new,
                "open_episode": str(result.state.episode_id),
            },
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
        engine = warehouse.engine()
        events = load_alert_events(engine, context.partition_key)
        interval = runtime.plans[context.partition_key].grid_interval
        now = coinglass.client().now().astimezone(UTC).replace(tzinfo=None)
        counts, report = alert_delivery.enqueue_and_deliver(engine, events, interval, now)
        if report.errors:
            context.log.warning(f"delivery errors (will retry): {report.errors[:5]}")
        return dg.MaterializeResult(metadata={**counts.as_metadata(), **report.as_metadata()})

    return [percentile_configs, score_coin, alert_outbox]


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=build_signal_assets(cached_runtime()))
