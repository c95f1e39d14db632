"""dbt models as coin-partitioned assets; dbt tests surface as asset checks."""

import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from sniper_pipeline.defs.ingest.partitions import coin_partitions
from sniper_pipeline.defs.transform.project import dbt_executable, dbt_project, ensure_manifest
from sniper_pipeline.runtime import Runtime, cached_runtime


class SniperDbtTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "transform"


def dbt_vars(runtime: Runtime, coin: str) -> dict[str, Any]:
    """The partition's vars: which coin, its grid and the source chosen for each layer."""
    plan = runtime.plans[coin]
    return {
        "coin": coin,
        "grid_interval": plan.grid_interval or "",
        "sources": {layer: src.source_key for layer, src in plan.sources.items() if src is not None},
    }


def build_dbt_assets(runtime: Runtime) -> dg.AssetsDefinition:
    project = dbt_project()

    @dbt_assets(
        manifest=ensure_manifest(project),
        project=project,
        partitions_def=coin_partitions(runtime),
        dagster_dbt_translator=SniperDbtTranslator(),
        # DuckDB: the one-writer pool. PostgreSQL: dbt still rebuilds shared staging views and the
        # mart's table, so coin runs take turns for this step only (pool "dbt", limit 1).
        pool="duckdb" if runtime.uses_duckdb else "dbt",
        name="coinglass_dbt",
    )
    def coinglass_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        # dbt runs as a subprocess and reads its target from these variables.
        os.environ.update(runtime.warehouse.dbt_env())
        args = ["build", "--vars", json.dumps(dbt_vars(runtime, context.partition_key))]
        yield from dbt.cli(args, context=context).stream()

    return coinglass_dbt


@dg.definitions
def defs() -> dg.Definitions:
    runtime = cached_runtime()
    return dg.Definitions(
        assets=[build_dbt_assets(runtime)],
        resources={"dbt": DbtCliResource(project_dir=dbt_project(), dbt_executable=dbt_executable())},
    )
