"""The dbt project beside the package, and its manifest (parsed on demand when missing)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from sniper_pipeline.settings.paths import dbt_project_dir
from sniper_pipeline.warehouse.url import warehouse_location


def dbt_project() -> DbtProject:
    project_dir = dbt_project_dir()
    return DbtProject(project_dir=project_dir, profiles_dir=project_dir)


def dbt_executable() -> str:
    """dbt from this interpreter's environment: PATH may not include the venv."""
    return str(Path(sys.executable).with_name("dbt"))


def ensure_manifest(project: DbtProject) -> Path:
    """`dbt parse` once if the manifest is missing, so a fresh clone loads without a manual step."""
    if not project.manifest_path.exists():
        subprocess.run(
            [
                dbt_executable(),
                "parse",
                "--quiet",
                "--project-dir",
                str(project.project_dir),
                "--profiles-dir",
                str(project.profiles_dir),
            ],
            check=True,
            env={**os.environ, **warehouse_location().dbt_env()},
        )
    return project.manifest_path
