"""The dbt project beside the package, its manifest (parsed on demand when missing) and the
connection profile of a warehouse."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import yaml
from dagster_dbt import DbtProject

from sniper_pipeline.settings.paths import data_dir, dbt_project_dir
from sniper_pipeline.warehouse.url import WarehouseLocation

PROFILE = "sniper"


def dbt_project() -> DbtProject:
    project_dir = dbt_project_dir()
    return DbtProject(project_dir=project_dir, profiles_dir=project_dir)


def dbt_executable() -> str:
    """dbt from this interpreter's environment: PATH may not include the venv."""
    return str(Path(sys.executable).with_name("dbt"))


def _literal(value: str | int) -> str | int:
    """dbt renders every string of profiles.yml as Jinja: a `{` in a password or path stays text."""
    return f"{{% raw %}}{value}{{% endraw %}}" if isinstance(value, str) and "{" in value else value


def warehouse_folder(warehouse: WarehouseLocation, kind: str) -> Path:
    """data/<kind>/<digest of the redacted URL>: dbt state that belongs to one warehouse."""
    digest = hashlib.sha256(warehouse.redacted().encode()).hexdigest()[:10]
    return data_dir() / kind / digest


def dbt_profiles_dir(warehouse: WarehouseLocation) -> Path:
    """A profiles folder for this warehouse: dbt/profiles.yml's output for its backend with the
    connection written in literally (the file is rewritten only when it changes).

    A file, not environment variables: dagster-dbt 0.29's `DbtCliResource.cli()` builds dbt's
    environment from `os.environ` and takes no `env=`, so variables would have to be written into
    this process's environment, shared by every step and thread of it. The file is readable by
    its owner only (0600): for PostgreSQL it holds the password, as ~/.pgpass would. It lives
    under the data folder, not in dbt/ (which the Docker image copies)."""
    project_dir = dbt_project_dir()
    static = yaml.safe_load((project_dir / "profiles.yml").read_text())[PROFILE]
    target = warehouse.dbt_target
    connection = {key: _literal(value) for key, value in warehouse.dbt_connection().items()}
    output = {**static["outputs"][target], **connection}
    text = yaml.safe_dump({PROFILE: {"target": target, "outputs": {target: output}}}, sort_keys=False)
    folder = warehouse_folder(warehouse, "dbt-profiles")
    path = folder / "profiles.yml"
    if not path.is_file() or path.read_text() != text:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Written aside and renamed: a concurrent step never reads half a file.
        staged = folder / f".profiles-{os.getpid()}.yml"
        with os.fdopen(os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            out.write(text)
        os.replace(staged, path)
    return folder


def ensure_manifest(project: DbtProject, profiles_dir: Path) -> Path:
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
                str(profiles_dir),
            ],
            check=True,
        )
    return project.manifest_path
