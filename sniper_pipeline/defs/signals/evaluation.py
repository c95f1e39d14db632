"""signal_evaluation: every coin's alerts against forward price moves (lift, hit rate, 95 % CIs),
one table the HTML report renders. The evaluation is plain Python; this file reads the mart,
calls it and writes the table."""

import hashlib
import json
from typing import Any

import dagster as dg
import pandas as pd
from sqlalchemy import Engine, inspect, text

from sniper_pipeline.defs.ingest.resources import WarehouseResource
from sniper_pipeline.ingest.runtime import Runtime
from sniper_pipeline.settings.evaluation import load_evaluation_settings
from sniper_pipeline.settings.paths import config_dir
from sniper_pipeline.settings.timeutil import naive_utc_times
from sniper_pipeline.signals.evaluation import evaluate_warehouse
from sniper_pipeline.signals.settings import load_engine_params

TABLE = "signal_evaluation"
INPUTS_KEY = "sniper/inputs_key"  # what the stored table was computed from


def _inputs_key(engine: Engine, settings: str) -> str:
    """Alert events are append-only and every mart row records when its inputs were written, so
    counts and latest times change whenever the evaluation's inputs do."""
    tables = set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        facts = [
            list(conn.execute(text(query)).one()) if name in tables else None
            for name, query in (
                ("alert_events", "select count(*), max(decided_at) from alert_events"),
                ("fct_layer_bars", "select count(*), max(inputs_ingested_at), max(ts) from fct_layer_bars"),
            )
        ]
    return hashlib.sha256(json.dumps([facts, settings], default=str).encode()).hexdigest()[:16]


def _naive(frame: pd.DataFrame) -> pd.DataFrame:
    """Timestamps as naive UTC, like every other warehouse table."""
    out = frame.copy()
    for column in ("period_start", "period_end"):
        out[column] = naive_utc_times(out[column])
    return out


def build_evaluation_asset(runtime: Runtime) -> dg.AssetsDefinition:
    @dg.asset(
        name=TABLE,
        group_name="signals",
        deps=["alert_events", "layer_signals"],
        kinds={"python"},
        pool="duckdb" if runtime.uses_duckdb else None,
        description="Per coin, tier and horizon: lift of forward moves, hit rate, bootstrap 95% CIs.",
    )
    def signal_evaluation(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        engine = warehouse.engine()
        settings = load_evaluation_settings(config_dir())
        params = load_engine_params(config_dir())
        key = _inputs_key(engine, repr((params, settings)))
        latest = context.instance.get_latest_materialization_event(dg.AssetKey(TABLE))
        stored = (
            latest.asset_materialization.metadata.get(INPUTS_KEY)
            if latest and latest.asset_materialization
            else None
        )
        if inspect(engine).has_table(TABLE) and getattr(stored, "value", None) == key:
            # The bootstrap CIs take seconds per coin; same events, bars and settings, same table.
            return dg.MaterializeResult(metadata={"skipped": "inputs unchanged", INPUTS_KEY: key})
        _, table = evaluate_warehouse(engine, params, settings)
        # One transaction: the report never sees a half-written table. Drop + append rather than
        # if_exists="replace": duckdb-engine's reflection of an existing table fails on
        # SQLAlchemy 2.1 (it asks for pg_catalog.pg_collation).
        exists = inspect(engine).has_table(TABLE)
        with engine.begin() as conn:
            if exists:
                conn.execute(text(f'drop table "{TABLE}"'))
            _naive(table).to_sql(TABLE, conn, if_exists="append", index=False)
        meta: dict[str, Any] = {
            "rows": len(table),
            "coins": sorted(table["coin"].unique().tolist()),
            INPUTS_KEY: key,
        }
        return dg.MaterializeResult(metadata=meta)

    return signal_evaluation


def area_defs(runtime: Runtime) -> dg.Definitions:
    return dg.Definitions(assets=[build_evaluation_asset(runtime)])
