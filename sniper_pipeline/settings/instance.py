"""DAGSTER_HOME set-up, so `sniper` works outside `make` too (design.md section 6)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sniper_pipeline.settings.paths import config_dir, project_dir


def ensure_dagster_home(instance_config: str = "dagster.yaml") -> Path:
    """DAGSTER_HOME, else `.dagster/` in the project, with the instance config installed if
    missing. The caller opens the instance from this folder and hands it to its children."""
    home = Path(os.environ.get("DAGSTER_HOME") or project_dir() / ".dagster")
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        shutil.copyfile(config_dir() / instance_config, target)
    return home
