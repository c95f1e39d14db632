"""The code location: `build_defs(runtime)` merges each area's definitions, built for one Runtime;
owners and tags come from one table (`defs/catalog.py`) for every asset, dbt models included.

`defs` is the entry point for processes that load the location by module name (`dagster dev`,
the gRPC code server, Celery workers, `dagster job execute`): they have no arguments to give, so
their Runtime comes from the environment. Commands and tests build a Runtime and call
`build_defs` instead."""

from __future__ import annotations

import warnings

import dagster as dg

from sniper_pipeline.defs.catalog import with_catalog
from sniper_pipeline.defs.ingest import assets as ingest_assets
from sniper_pipeline.defs.ingest import resources as ingest_resources
from sniper_pipeline.defs.ops import dead_runs, delivery, health, jobs, report, sensors, stream_sensor
from sniper_pipeline.defs.ops import resources as ops_resources
from sniper_pipeline.defs.signals import assets as signal_assets
from sniper_pipeline.defs.signals import evaluation
from sniper_pipeline.defs.transform import assets as transform_assets
from sniper_pipeline.ingest.runtime import Runtime, load_runtime


def build_defs(runtime: Runtime) -> dg.Definitions:
    merged = dg.Definitions.merge(
        ingest_resources.area_defs(runtime),
        ingest_assets.area_defs(runtime),
        transform_assets.area_defs(runtime),
        signal_assets.area_defs(runtime),
        evaluation.area_defs(runtime),
        jobs.area_defs(runtime),
        sensors.area_defs(runtime),
        stream_sensor.area_defs(runtime),
        delivery.area_defs(runtime),
        health.area_defs(runtime),
        report.area_defs(runtime),
        ops_resources.area_defs(),
        dead_runs.area_defs(),
    )
    with warnings.catch_warnings():
        # `Definitions.map_asset_specs` is marked preview in 1.13 (no other public way to map a
        # whole location); test_catalog.py fails if a patch release changes what it does.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return merged.map_asset_specs(func=with_catalog)


@dg.definitions
def defs() -> dg.Definitions:
    return build_defs(load_runtime())
