"""A coin partition materialized in process on DuckDB and PostgreSQL: raw assets (GX checks
first), dbt, configs, signals, events; a re-run adds nothing."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
from sqlalchemy import text

from sniper_pipeline.definitions import build_defs
from sniper_pipeline.ingest.runtime import Runtime
from sniper_pipeline.warehouse.engine import make_engine


def _metadata(result: dg.ExecuteInProcessResult, key: str) -> dict[str, object]:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key]
    meta = event.materialization.metadata
    return {k: getattr(v, "value", v) for k, v in meta.items()}


def test_coin_partition_materializes_and_rerun_adds_nothing(replay_runtime_any_warehouse: Runtime) -> None:
    replay_runtime = replay_runtime_any_warehouse
    definitions = build_defs(replay_runtime)
    job = definitions.resolve_job_def("coin_scan_job")
    instance = dg.DagsterInstance.ephemeral()

    first = job.execute_in_process(partition_key="HYPE", instance=instance)
    assert first.success
    liq = _metadata(first, "raw_liquidations")
    assert liq["requests"] == 2 and liq["rows_new"] == liq["rows_fetched"] == 1080  # 1080 bars: 2 pages
    assert all(e.passed for e in first.get_asset_check_evaluations())
    assert {
        e.check_name
        for e in first.get_asset_check_evaluations()
        if e.asset_key.to_user_string() == "raw_funding"
    } >= {
        "unique_keys",
        "ascending_ts",
    }

    engine = make_engine(replay_runtime.warehouse)
    with engine.connect() as conn:
        bars = conn.execute(
            text(
                "select count(*), count(taker_ratio), count(funding_bps_8h), bool_or(taker_is_coarser) "
                "from fct_layer_bars where coin = 'HYPE'"
            )
        ).one()
    assert bars[0] == 1080 and bars[1] > 900 and bars[2] == 1080 and bars[3] is True
    events = _metadata(first, "alert_events")
    assert events["events_new"] == events["events"] > 0
    assert _metadata(first, "percentile_configs")["rows_new"] == 5

    # The unpartitioned tail of `sniper run`: health check, evaluation, report.
    tail = definitions.resolve_job_def("report_and_health_job").execute_in_process(instance=instance)
    assert tail.success
    with engine.connect() as conn:
        evaluation = pd.read_sql(text("select * from signal_evaluation"), conn)
    assert set(evaluation["subject"]) == {"event", "bar"} and set(evaluation["coin"]) == {"HYPE"}
    ci = evaluation.dropna(subset=["lift_lo", "lift_hi"])
    assert not ci.empty and (ci["lift_lo"] <= ci["lift"]).all() and (ci["lift"] <= ci["lift_hi"]).all()
    assert Path(str(_metadata(tail, "signal_report")["path"])).is_file()

    second = job.execute_in_process(partition_key="HYPE", instance=instance)
    assert second.success
    again = _metadata(second, "raw_liquidations")
    assert again["requests"] == 1 and again["rows_new"] == 0 and again["rows_updated"] == 0
    # The same bars decide the same events and the same config: nothing new is stored.
    assert _metadata(second, "alert_events")["events_new"] == 0
    assert _metadata(second, "percentile_configs")["rows_new"] == 0
    with engine.connect() as conn:
        outbox_rows = conn.execute(text("select count(*), count(distinct dedup_key) from outbox")).one()
    assert outbox_rows[0] == outbox_rows[1]
