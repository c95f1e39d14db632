"""Where the project's files live; every path can be overridden by an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
PROJECT_DIR = PACKAGE_DIR.parent


def project_dir() -> Path:
    return Path(os.environ.get("SNIPER_PROJECT_DIR", PROJECT_DIR))


def config_dir() -> Path:
    return Path(os.environ.get("SNIPER_CONFIG_DIR", project_dir() / "config"))


def data_dir() -> Path:
    return Path(os.environ.get("SNIPER_DATA_DIR", project_dir() / "data"))


def reports_dir() -> Path:
    return Path(os.environ.get("SNIPER_REPORTS_DIR", project_dir() / "reports"))


def dbt_project_dir() -> Path:
    return project_dir() / "dbt"
