"""The dbt CLI resource of the scan, without two costs dagster-dbt 0.29 pays before every
`dbt build` in the step's own process and this project never uses.

- `dbt --version` in a subprocess (about 3 s: dbt imports everything) to learn the executable's
  version: the executable is this environment's (`dbt_executable`), so the installed dbt-core's
  version is the same answer.
- An in-process dbt adapter with the project's macros (about 4-5 s): dagster-dbt needs it only
  for `fetch_column_metadata` / `fetch_row_counts`, which the scan does not call.

In served mode every step is its own process, so both costs came with every scan's dbt step.
Both overrides are of private members: `test_dbt_resource.py` fails if dagster-dbt renames them.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

from dagster_dbt import DbtCliResource, DbtProject
from packaging import version


class ScanDbtCliResource(DbtCliResource):
    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(installed_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        return None  # no adapter: dbt's own process does the work (see the module docstring)


def scan_dbt_resource(project: DbtProject, profiles_dir: Path, executable: str) -> ScanDbtCliResource:
    # Plain strings: mypy checks the subclass against its pydantic fields, not against
    # DbtCliResource's own __init__ (which also takes a DbtProject).
    return ScanDbtCliResource(
        project_dir=str(project.project_dir), profiles_dir=str(profiles_dir), dbt_executable=executable
    )
