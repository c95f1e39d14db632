"""The UI loads: a real dagster-webserver over workspace.yaml, asked through its GraphQL API."""

from __future__ import annotations

from pathlib import Path

import pytest

from sniper_pipeline_tests.defs.webserver import graphql, running_webserver

QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        locationOrLoadError {
          __typename
          ... on PythonError { message }
          ... on RepositoryLocation {
            repositories {
              name
              jobs { name }
              schedules { name scheduleState { status } }
              sensors { name sensorState { status } }
              assetNodes { assetKey { path } assetChecksOrError { __typename
                ... on AssetChecks { checks { name } } } }
            }
          }
        }
      }
    }
  }
}
"""


@pytest.mark.slow
def test_webserver_loads_every_definition(tmp_path: Path) -> None:
    with running_webserver(tmp_path) as port:
        data = graphql(port, QUERY)
        [entry] = data["data"]["workspaceOrError"]["locationEntries"]
        location = entry["locationOrLoadError"]
        assert location["__typename"] == "RepositoryLocation", location.get("message", location)
        [repo] = location["repositories"]
        jobs = {j["name"] for j in repo["jobs"]}
        assert {"coin_scan_job", "snapshots_job", "health_check_job", "deliver_outbox_job"} <= jobs
        schedules = {s["name"]: s["scheduleState"]["status"] for s in repo["schedules"]}
        assert schedules["daily_health_check"] == "RUNNING"
        sensors = {s["name"]: s["sensorState"]["status"] for s in repo["sensors"]}
        assert sensors["new_bar_sensor"] == "RUNNING" and "run_failure_ops_alert_sensor" in sensors
        assets = {"/".join(a["assetKey"]["path"]): a for a in repo["assetNodes"]}
        for key in ("raw_liquidations", "fct_layer_bars", "layer_signals", "alert_events", "api_health"):
            assert key in assets, key
        for node in assets.values():
            assert node["assetChecksOrError"]["__typename"] == "AssetChecks"
        raw_checks = {c["name"] for c in assets["raw_liquidations"]["assetChecksOrError"]["checks"]}
        assert {"unique_keys", "ascending_ts", "fresh"} <= raw_checks
