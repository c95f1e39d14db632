"""A real dagster-webserver over workspace.yaml for the UI tests, and its GraphQL API."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sniper_pipeline.settings.paths import project_dir
from sniper_pipeline_tests.conftest import UNUSED_SERVER, free_port, replay_process_env

LOCATION_QUERY = """
{
  workspaceOrError {
    ... on Workspace { locationEntries { locationOrLoadError { __typename } } }
  }
}
"""


def graphql(port: int, query: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def _location_answered(port: int) -> bool:
    try:
        entries = graphql(port, LOCATION_QUERY)["data"]["workspaceOrError"]["locationEntries"]
    except (OSError, KeyError, TypeError):
        return False
    return bool(entries) and entries[0]["locationOrLoadError"] is not None


@contextmanager
def running_webserver(home: Path, timeout_s: float = 180) -> Iterator[int]:
    """The webserver on a free loopback port, DAGSTER_HOME `home` with the shipped instance
    config, the replay profile and no reachable API; yields the port once the code location has
    loaded or failed to (the caller asks which)."""
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    env = replay_process_env(
        data_dir=home / "data", base_url=UNUSED_SERVER, api_key="ui-test", DAGSTER_HOME=str(home)
    )
    (home / "dagster.yaml").write_text((project_dir() / "config" / "dagster.yaml").read_text())
    webserver = Path(sys.executable).with_name("dagster-webserver")
    proc = subprocess.Popen(
        [str(webserver), "-w", str(project_dir() / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
        env=env,
        cwd=project_dir(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout_s
        while not _location_answered(port):
            assert proc.poll() is None, f"dagster-webserver exited with {proc.returncode}"
            assert time.monotonic() < deadline, f"the code location did not load within {timeout_s} s"
            time.sleep(0.5)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
