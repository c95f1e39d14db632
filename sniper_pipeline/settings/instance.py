"""DAGSTER_HOME set-up, so `sniper` works outside `make` too (design.md section 6)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sniper_pipeline.settings.paths import config_dir, project_dir


def ensure_dagster_home(instance_config: str = "dagster.yaml") -> Path:
    """Point DAGSTER_HOME at `.dagster/` when unset and install the instance config if missing."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(project_dir() / ".dagster")))
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        shutil.copyfile(config_dir() / instance_config, target)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    return home
