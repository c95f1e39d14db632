"""The transform package imports dagster-dbt without dbt-core (see its docstring): the process
saves dbt-core's import, the dbt assets and checks come out the same as with it, and dbt-core
stays importable afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from packaging.version import Version

# Prints the dbt part of the asset graph; with "visible", dagster-dbt is imported first, as any
# program that does not go through the transform package would.
GRAPH = """
import json, sys
if sys.argv[1] == "visible":
    import dagster_dbt
from sniper_pipeline.definitions import build_defs
from sniper_pipeline.ingest.runtime import load_runtime
import dagster_dbt.compat
from dagster_shared.libraries import DagsterLibraryRegistry

dbt_def = build_defs(load_runtime()).resolve_assets_def("fct_layer_bars")
specs = {
    key.to_user_string(): {
        "deps": sorted(dep.asset_key.to_user_string() for dep in spec.deps),
        "group": spec.group_name,
        "description": spec.description,
        "kinds": sorted(spec.kinds),
        "metadata": sorted(spec.metadata),
    }
    for key, spec in dbt_def.specs_by_key.items()
}
checks = {
    check.key.to_user_string(): [
        check.description,
        check.blocking,
        sorted(dep.asset_key.to_user_string() for dep in check.additional_deps),
    ]
    for check in dbt_def.check_specs
}
dbt_core_loaded = "dbt.contracts.graph.nodes" in sys.modules
import dbt.version  # still importable after dagster-dbt's import
print(json.dumps({
    "dbt_core_loaded": dbt_core_loaded,
    "dagster_dbt_saw_dbt_core": dagster_dbt.compat.DBT_PYTHON_VERSION is not None,
    "assets": specs,
    "checks": checks,
    "libraries": {k: v for k, v in DagsterLibraryRegistry.get().items() if k.startswith("dbt")},
}))
"""


def _graph(mode: str, env: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", GRAPH, mode], capture_output=True, text=True, check=True, cwd=env
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_dbt_assets_are_the_same_without_dbt_core_in_process(project_env: Path) -> None:
    hidden = _graph("hidden", project_env)
    visible = _graph("visible", project_env)
    assert hidden["dbt_core_loaded"] is False and hidden["dagster_dbt_saw_dbt_core"] is False
    assert visible["dbt_core_loaded"] is True and visible["dagster_dbt_saw_dbt_core"] is True
    assert hidden["assets"] == visible["assets"]
    assert hidden["checks"] == visible["checks"]
    assert len(hidden["checks"]) > 10  # type: ignore[arg-type]
    # The code location reports the dbt installed (the UI's library versions), either way.
    installed = Version(version("dbt-core")).base_version
    assert hidden["libraries"] == visible["libraries"] == {"dbt-core": installed}
