"""The scan's dbt resource skips dagster-dbt's `dbt --version` subprocess and in-process adapter;
these tests fail if dagster-dbt renames what it overrides or the versions stop agreeing."""

from __future__ import annotations

import re
import subprocess

from dagster_dbt import DbtCliResource

from sniper_pipeline.defs.transform.project import dbt_executable, dbt_project
from sniper_pipeline.defs.transform.resource import ScanDbtCliResource, scan_dbt_resource
from sniper_pipeline.settings.paths import dbt_project_dir


def test_the_overridden_members_still_exist_in_dagster_dbt() -> None:
    overridden = ("_cli_version", "_initialize_dbt_core_adapter")
    assert all(name in vars(DbtCliResource) for name in overridden)
    assert all(name in vars(ScanDbtCliResource) for name in overridden)


def test_the_version_is_the_executables_without_running_it() -> None:
    resource = scan_dbt_resource(dbt_project(), dbt_project_dir(), dbt_executable())
    printed = subprocess.run([dbt_executable(), "--version"], capture_output=True, text=True, check=True)
    match = re.search(r"(\d+\.\d+\.\d+)", printed.stdout)
    assert match is not None and str(resource._cli_version) == match.group(1)


def test_no_dbt_adapter_is_built_in_process() -> None:
    resource = scan_dbt_resource(dbt_project(), dbt_project_dir(), dbt_executable())
    assert resource._initialize_dbt_core_adapter(["build"]) is None
