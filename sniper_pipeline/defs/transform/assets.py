"""dbt models as assets; dbt tests surface as asset checks.

The models are not partitioned: each is one relation over every coin (the mart is incremental
over all coins, the staging models are views), and one dbt build serves a whole scan. Per-coin
partitions would only add a planned and a materialized event per coin and model to every scan
(1,200 events for 100 coins) without anything per coin behind them."""

import graphlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from sniper_pipeline.defs.transform.freshness import BUILD_KEY, build_key, mart_current, upstream_unchanged
from sniper_pipeline.defs.transform.project import (
    dbt_executable,
    dbt_profiles_dir,
    dbt_project,
    ensure_manifest,
    warehouse_folder,
)
from sniper_pipeline.defs.transform.resource import scan_dbt_resource
from sniper_pipeline.ingest.runtime import Runtime
from sniper_pipeline.warehouse.engine import make_engine
from sniper_pipeline.warehouse.kept_open import released


class SniperDbtTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "transform"

    def get_asset_check_spec(
        self,
        asset_spec: dg.AssetSpec,
        manifest: Mapping[str, Any],
        unique_id: str,
        project: DbtProject | None,
    ) -> dg.AssetCheckSpec | None:
        """dagster-dbt 0.29 reads a test's description from `meta.description` only; dbt >= 1.9
        has a `description:` property on data tests, which is what the yml files set."""
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        description = manifest["nodes"][unique_id].get("description")
        if spec is None or spec.description or not description:
            return spec
        return dg.AssetCheckSpec(
            spec.name,
            asset=spec.asset_key,
            description=description,
            additional_deps=spec.additional_deps,
            blocking=spec.blocking,
            metadata=spec.metadata,
            automation_condition=spec.automation_condition,
            partitions_def=spec.partitions_def,
        )


def scan_target_path(runtime: Runtime) -> Path:
    """One dbt target folder per warehouse, reused by every scan: dbt keeps its partial-parse
    file there, so a scan parses only what changed (a fresh folder per run would parse all).
    Under the data folder, beside the warehouse's dbt profile: it is state of that warehouse, and
    the project folder may be read-only (an image) or shared by many warehouses (the tests')."""
    return warehouse_folder(runtime.warehouse, "dbt-target")


def build_dbt_assets(runtime: Runtime, profiles_dir: Path) -> dg.AssetsDefinition:
    project = dbt_project()

    @dbt_assets(
        manifest=ensure_manifest(project, profiles_dir),
        project=project,
        dagster_dbt_translator=SniperDbtTranslator(),
        # DuckDB: the one-writer pool. PostgreSQL: two scans at once would rebuild the same mart,
        # so dbt steps take turns (pool "dbt", limit 1).
        pool="duckdb" if runtime.uses_duckdb else "dbt",
        name="coinglass_dbt",
    )
    def coinglass_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        key = build_key(Path(project.project_dir), runtime.warehouse.redacted())
        if upstream_unchanged(context) and mart_current(context, make_engine(runtime.warehouse), key):
            context.log.info("no raw row changed this run: the dbt models are current, dbt not run")
            # A multi-asset yields in dependency order: staging views before the mart.
            deps = context.assets_def.asset_deps
            selected = context.selected_asset_keys
            order = graphlib.TopologicalSorter({k: deps.get(k, set()) & selected for k in selected})
            for asset_key in order.static_order():
                yield dg.MaterializeResult(
                    asset_key=asset_key, metadata={"dbt": "skipped: no upstream change", BUILD_KEY: key}
                )
            return
        context.add_asset_metadata({BUILD_KEY: key}, asset_key="fct_layer_bars")
        # One build for every coin of the scan: the mart reads the coins' sources from a table.
        # dbt opens the DuckDB file in its own process: this process lets go of it meanwhile.
        with released(runtime.warehouse):
            yield from dbt.cli(["build"], context=context, target_path=scan_target_path(runtime)).stream()

    return coinglass_dbt


def area_defs(runtime: Runtime) -> dg.Definitions:
    # dbt reaches the runtime's warehouse through a profile of its own (see dbt_profiles_dir).
    profiles_dir = dbt_profiles_dir(runtime.warehouse)
    dbt = scan_dbt_resource(dbt_project(), profiles_dir, dbt_executable())
    return dg.Definitions(assets=[build_dbt_assets(runtime, profiles_dir)], resources={"dbt": dbt})
