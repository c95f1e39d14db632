"""Raw CoinGlass assets: one per layer, partitioned by coin, all filled by one step per scan
(`raw_layers`); snapshot assets unpartitioned.

The step fetches every (coin, layer) of the scan concurrently under the shared rate limiter,
then validates each fetched frame (GX suite, `defs/quality/`) and upserts it. A frame that fails
is never written; its coin is blocked for the rest of the run while the other coins go on."""

import json
from collections.abc import Iterator
from typing import Any

import dagster as dg

from sniper_pipeline.defs.ingest.partitions import SCAN_BACKFILL_POLICY, coin_partitions
from sniper_pipeline.defs.ingest.resources import CoinGlassResource, WarehouseResource
from sniper_pipeline.defs.ops.resources import AlertDeliveryResource
from sniper_pipeline.defs.quality.raw_checks import ScanChecks, raw_check_specs
from sniper_pipeline.ingest import snapshots
from sniper_pipeline.ingest.coin_sources import coin_source_rows, store_coin_sources
from sniper_pipeline.ingest.concurrent import fetch_concurrently, workers_for_rate
from sniper_pipeline.ingest.layers import LAYER_TABLES, LayerFetch, fetch_layer, layer_watermarks
from sniper_pipeline.ingest.runtime import Runtime
from sniper_pipeline.ingest.scan import new_bar_due, validate_and_store
from sniper_pipeline.ingest.sources import ResolvedSource
from sniper_pipeline.quality.validate import preload_gx_in_background
from sniper_pipeline.settings.timeutil import utc_now_naive

LAYER_ASSETS: dict[str, str] = {layer: table.name for layer, table in LAYER_TABLES.items()}
BLOCKED_COINS = "blocked_coins"  # metadata key: coin -> why nothing of it was written this run


def _kinds(runtime: Runtime) -> set[str]:
    return {"coinglass", "duckdb" if runtime.uses_duckdb else "postgres"}


def _pool(runtime: Runtime) -> str | None:
    return "duckdb" if runtime.uses_duckdb else None


def _error_text(error: BaseException, limit: int = 600) -> str:
    """The error on one line: class, message (endpoint, params and remedy included), capped."""
    text = f"{type(error).__name__}: {' '.join(str(error).split())}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _raw_layers_asset(runtime: Runtime) -> dg.AssetsDefinition:
    specs = [
        dg.AssetSpec(
            name,
            group_name="ingest",
            kinds=_kinds(runtime),
            description=f"Raw CoinGlass {layer} bars per coin, as fetched (units in column names).",
        )
        for layer, name in LAYER_ASSETS.items()
    ]

    @dg.multi_asset(
        name="raw_layers",
        specs=specs,
        check_specs=[spec for name in LAYER_ASSETS.values() for spec in raw_check_specs(name)],
        partitions_def=coin_partitions(runtime),
        backfill_policy=SCAN_BACKFILL_POLICY,
        can_subset=True,
        pool=_pool(runtime),
    )
    def raw_layers(
        context: dg.AssetExecutionContext,
        coinglass: CoinGlassResource,
        warehouse: WarehouseResource,
        alert_delivery: AlertDeliveryResource,
    ) -> Iterator[Any]:
        coins = list(context.partition_keys)
        selected = {key.to_user_string() for key in context.selected_asset_keys}
        layers = [layer for layer, name in LAYER_ASSETS.items() if name in selected]
        engine = warehouse.engine()
        client = coinglass.client()
        now = client.now()
        checks = {LAYER_ASSETS[layer]: ScanChecks(LAYER_ASSETS[layer]) for layer in layers}
        tasks: list[tuple[str, ResolvedSource]] = []
        for layer in layers:
            for coin in coins:
                source = runtime.plans[coin].sources.get(layer)
                if source is None:
                    checks[LAYER_ASSETS[layer]].skipped.append(coin)
                else:
                    tasks.append((coin, source))
        # Watermarks first, in this thread: the fetch threads never touch the warehouse.
        since = layer_watermarks(engine, tasks)
        if any(new_bar_due(since[(coin, s.layer)], s.interval, now) for coin, s in tasks):
            # New bars will be validated: GX's import and context (seconds) load meanwhile.
            preload_gx_in_background()

        def fetch(task: tuple[str, ResolvedSource]) -> LayerFetch:
            coin, source = task
            return fetch_layer(
                client,
                coin,
                source,
                since[(coin, source.layer)],
                history_days=runtime.layers.history_days,
                overlap_bars=runtime.layers.overlap_bars,
            )

        fetched: dict[str, dict[str, LayerFetch]] = {name: {} for name in checks}
        workers = workers_for_rate(coinglass.requests_per_minute, coinglass.rate_window_s)
        for (coin, source), answer, error in fetch_concurrently(tasks, fetch, workers=workers):
            name = LAYER_ASSETS[source.layer]
            if error is not None or answer is None:
                checks[name].fetch_errors[coin] = _error_text(error or RuntimeError("no result"))
            else:
                fetched[name][coin] = answer

        stats: dict[str, dict[str, int]] = {}
        per_coin: dict[tuple[str, str], dict[str, Any]] = {}
        for name, by_coin in fetched.items():
            layer_since = {coin: since[(coin, f.source.layer)] for coin, f in by_coin.items()}
            write = validate_and_store(engine, name, by_coin, layer_since, now)
            for coin, validation in write.validations.items():
                checks[name].outcomes[coin] = validation.outcomes
            for coin, result in write.written.items():
                per_coin[(name, coin)] = result.as_metadata()
            stats[name] = {key: write.count(key) for key in ("rows_new", "rows_updated")}
            # One line per table (a line per coin would be hundreds of events per scan).
            context.log.info(
                f"{name}: {len(by_coin)} coins fetched, {stats[name]['rows_new']} rows new, "
                f"{stats[name]['rows_updated']} updated"
            )

        blocked: dict[str, dict[str, str]] = {name: c.rejected() for name, c in checks.items()}
        for name, reasons in blocked.items():
            for coin, reason in reasons.items():
                message = f"{coin}: {name} not written: {reason}"
                context.log.error(message)
                if coin not in checks[name].fetch_errors:
                    # Bad data gets its own ops alert now; a failed fetch fails the run, and the
                    # run-failure sensor reports it (one alert, not two).
                    alert_delivery.ops_alert(
                        f"data quality: {name} {coin}", f"run {context.run_id}\n{message}"
                    )
        for check in checks.values():
            yield from check.results()
        for (name, coin), metadata in per_coin.items():
            context.add_asset_metadata(metadata, asset_key=name, partition_key=coin)
        for name in checks:
            yield dg.MaterializeResult(
                asset_key=name,
                metadata={
                    **stats[name],
                    "coins": len(coins),
                    BLOCKED_COINS: json.dumps(blocked[name], sort_keys=True),
                    "rate_limit_used": client.rate_limit_used or 0,
                    "rate_limit_max": client.rate_limit_max or 0,
                },
            )
        if tasks and all(coin in blocked[LAYER_ASSETS[s.layer]] for coin, s in tasks):
            raise dg.Failure(
                description="every fetch of this scan failed or was rejected: "
                + "; ".join(f"{n} {c}: {r}" for n, b in blocked.items() for c, r in sorted(b.items()))
            )

    return raw_layers


def _coin_layer_sources_asset(runtime: Runtime) -> dg.AssetsDefinition:
    @dg.asset(
        name="coin_layer_sources",
        group_name="ingest",
        kinds=_kinds(runtime),
        partitions_def=coin_partitions(runtime),
        backfill_policy=SCAN_BACKFILL_POLICY,
        pool=_pool(runtime),
        description=(
            "Per coin and layer, the raw series (endpoint and params) and grid interval that "
            "fct_layer_bars reads: the source choice of the active profile, stored for dbt."
        ),
    )
    def coin_layer_sources(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Any:

        coins = list(context.partition_keys)
        rows = coin_source_rows(runtime.plans, coins, utc_now_naive())
        changed = store_coin_sources(warehouse.engine(), coins, rows)
        return dg.MaterializeResult(metadata={"coins": len(coins), "sources": len(rows), "changed": changed})

    return coin_layer_sources


def _snapshot_asset(runtime: Runtime, name: str, description: str, fetch: Any) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        group_name="ingest",
        kinds=_kinds(runtime),
        pool=_pool(runtime),
        description=description,
    )
    def _asset(
        context: dg.AssetExecutionContext, coinglass: CoinGlassResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        result: snapshots.SnapshotIngest = fetch(coinglass.client(), warehouse.engine())
        for endpoint in result.missing:
            context.log.warning(f"reference endpoint not available (reported, not fatal): {endpoint}")
        return dg.MaterializeResult(metadata=result.as_metadata())

    return _asset


def build_ingest_assets(runtime: Runtime) -> list[dg.AssetsDefinition]:
    symbols = {coin: plan.symbol for coin, plan in runtime.plans.items() if coin in runtime.partition_keys}
    assets = [_raw_layers_asset(runtime), _coin_layer_sources_asset(runtime)]
    assets += [
        _snapshot_asset(
            runtime,
            "instruments",
            "Instruments per exchange (symbol resolution).",
            lambda c, e: snapshots.ingest_instruments(c, e, symbols.values()),
        ),
        _snapshot_asset(
            runtime,
            "raw_funding_intervals",
            "Funding settlement hours per coin, exchange and margin.",
            lambda c, e: snapshots.ingest_funding_intervals(c, e, runtime.coins),
        ),
        _snapshot_asset(
            runtime,
            "raw_liquidation_exchanges",
            "Per-exchange liquidations over the last 4 h.",
            lambda c, e: snapshots.ingest_liquidation_exchanges(c, e, symbols),
        ),
        _snapshot_asset(
            runtime,
            "raw_etf_flows",
            "Daily Bitcoin ETF flows (macro context).",
            snapshots.ingest_etf_flows,
        ),
    ]
    return assets


def area_defs(runtime: Runtime) -> dg.Definitions:
    return dg.Definitions(assets=build_ingest_assets(runtime))
