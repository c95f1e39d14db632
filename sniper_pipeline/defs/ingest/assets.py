"""Raw CoinGlass assets: one per layer, partitioned by coin; snapshot assets unpartitioned.

Each raw asset validates the fetched frame (GX suite, `defs/quality/`) before the upsert: a
failing frame is never written and the blocking checks stop that coin downstream."""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from sniper_pipeline.defs.ingest.partitions import coin_partitions
from sniper_pipeline.defs.ingest.resources import CoinGlassResource, WarehouseResource
from sniper_pipeline.defs.ops.resources import AlertDeliveryResource
from sniper_pipeline.defs.quality.raw_checks import FrameChecks, FrameRejected, raw_check_specs
from sniper_pipeline.ingest import snapshots
from sniper_pipeline.ingest.layers import LAYER_TABLES, ingest_layer
from sniper_pipeline.runtime import Runtime, cached_runtime

LAYER_ASSETS: dict[str, str] = {layer: table.name for layer, table in LAYER_TABLES.items()}


def _kinds(runtime: Runtime) -> set[str]:
    return {"coinglass", "duckdb" if runtime.uses_duckdb else "postgres"}


def _layer_asset(runtime: Runtime, layer: str, asset_name: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=asset_name,
        partitions_def=coin_partitions(runtime),
        group_name="ingest",
        kinds=_kinds(runtime),
        pool="duckdb" if runtime.uses_duckdb else None,
        check_specs=raw_check_specs(asset_name),
        description=f"Raw CoinGlass {layer} bars per coin, as fetched (units in column names).",
    )
    def _asset(
        context: dg.AssetExecutionContext,
        coinglass: CoinGlassResource,
        warehouse: WarehouseResource,
        alert_delivery: AlertDeliveryResource,
    ) -> Iterator[Any]:
        coin = context.partition_key
        source = runtime.plans[coin].sources.get(layer)
        checks = FrameChecks(asset_name, interval=source.interval if source else None)
        if source is None:
            context.log.warning(
                f"{coin}: no {layer} source in the {runtime.profile} profile; nothing fetched"
            )
            yield from checks.skipped(f"{coin} has no {layer} source")
            yield dg.MaterializeResult(metadata={"coin": coin, "missing": True, "rows_written": 0})
            return
        client = coinglass.client()
        try:
            result = ingest_layer(
                client,
                warehouse.engine(),
                coin,
                source,
                history_days=runtime.layers.history_days,
                overlap_bars=runtime.layers.overlap_bars,
                validate=checks.validator(client.now()),
            )
        except FrameRejected as exc:
            yield from checks.results()
            failed = ", ".join(o.name for o in checks.failures())
            message = f"{coin}: fetched {layer} frame rejected ({failed}), nothing written: {exc}"
            alert_delivery.ops_alert(f"data quality: {asset_name} {coin}", f"run {context.run_id}\n{message}")
            raise dg.Failure(description=message) from None
        yield from checks.results()
        context.log.info(
            f"{coin} {layer}: {result.rows_received} rows in {result.requests} requests, "
            f"{result.written.new} new, {result.written.updated} updated"
        )
        yield dg.MaterializeResult(
            metadata={
                **result.as_metadata(),
                "rate_limit_used": client.rate_limit_used or 0,
                "rate_limit_max": client.rate_limit_max or 0,
            }
        )

    return _asset


def _snapshot_asset(runtime: Runtime, name: str, description: str, fetch: Any) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        group_name="ingest",
        kinds=_kinds(runtime),
        pool="duckdb" if runtime.uses_duckdb else None,
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
    assets = [_layer_asset(runtime, layer, name) for layer, name in LAYER_ASSETS.items()]
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


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=build_ingest_assets(cached_runtime()))
