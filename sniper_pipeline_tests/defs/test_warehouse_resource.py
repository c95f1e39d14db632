"""The warehouse resource: one engine (and one schema check) for as long as a run holds it."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from sqlalchemy import inspect

from sniper_pipeline.defs.ingest.resources import WarehouseResource


def test_a_run_uses_one_engine_with_the_schema_in_place(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    with dg.build_resources({"warehouse": WarehouseResource(url=url)}) as resources:
        engine = resources.warehouse.engine()
        assert resources.warehouse.engine() is engine
        assert "coin_layer_sources" in inspect(engine).get_table_names()
    # Outside a run, each call makes its own engine (the schema still created).
    loose = WarehouseResource(url=url)
    assert loose.engine() is not loose.engine()
