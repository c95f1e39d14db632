"""signal_report: the self-contained HTML report (layers, thresholds in force, alerts, health)."""

import dagster as dg

from sniper_pipeline.defs.ingest.resources import WarehouseResource
from sniper_pipeline.ingest.runtime import Runtime
from sniper_pipeline.settings.paths import reports_dir

FINALIZE_JOB = "report_and_health_job"


def build_report_asset(runtime: Runtime) -> dg.AssetsDefinition:
    @dg.asset(
        name="signal_report",
        group_name="ops",
        kinds={"html", "plotly"},
        deps=[
            "layer_signals",
            "confluence_signals",
            "alert_events",
            "percentile_configs",
            "api_health",
            "signal_evaluation",
        ],
        pool="duckdb" if runtime.uses_duckdb else None,
        description="reports/signals.html: per coin, each layer with its bands in force, alerts by tier.",
    )
    def signal_report(warehouse: WarehouseResource) -> dg.MaterializeResult:
        # Imported here: plotly and the report's template cost ~0.5 s, and every process that
        # loads the code location (each run worker) would pay it for this one step.
        from sniper_pipeline.report import write_report

        path = write_report(warehouse.engine(), reports_dir() / "signals.html")
        return dg.MaterializeResult(
            metadata={"path": dg.MetadataValue.path(str(path)), "bytes": path.stat().st_size}
        )

    return signal_report


def area_defs(runtime: Runtime) -> dg.Definitions:
    return dg.Definitions(
        assets=[build_report_asset(runtime)],
        jobs=[
            dg.define_asset_job(FINALIZE_JOB, selection=["api_health", "signal_evaluation", "signal_report"])
        ],
    )
