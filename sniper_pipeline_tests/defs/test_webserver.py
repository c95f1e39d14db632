"""The UI loads: a real dagster-webserver over workspace.yaml, asked through its GraphQL API."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from sniper_pipeline.settings.paths import project_dir
from sniper_pipeline_tests.conftest import UNUSED_SERVER, free_port, replay_process_env

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


def _graphql(port: int, query: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


@pytest.mark.slow
def test_webserver_loads_every_definition(tmp_path: Path) -> None:
    port = free_port()
    env = replay_process_env(
        data_dir=tmp_path / "data", base_url=UNUSED_SERVER, api_key="ui-test", DAGSTER_HOME=str(tmp_path)
    )
    (tmp_path / "dagster.yaml").write_text((project_dir() / "config" / "dagster.yaml").read_text())
    webserver = Path(sys.executable).with_name("dagster-webserver")
    proc = subprocess.Popen(
        [str(webserver), "-w", str(project_dir() / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
        env=env,
        cwd=project_dir(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        data: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                data = _graphql(port, QUERY)
                entries = data["data"]["workspaceOrError"]["locationEntries"]
                if entries and entries[0]["locationOrLoadError"] is not None:
                    break
            except (OSError, KeyError, TypeError):
                pass
            time.sleep(1)
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
    finally:
        proc.terminate()
        proc.wait(timeout=30)
