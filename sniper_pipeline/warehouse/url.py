"""The warehouse location: `SNIPER_WAREHOUSE_URL`, else the DuckDB file `data/sniper.duckdb`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from sniper_pipeline.settings.paths import data_dir

ENV_VAR = "SNIPER_WAREHOUSE_URL"


@dataclass(frozen=True)
class WarehouseLocation:
    url: URL

    @property
    def is_duckdb(self) -> bool:
        return self.url.get_backend_name() == "duckdb"

    @property
    def duckdb_path(self) -> Path:
        assert self.is_duckdb and self.url.database
        return Path(self.url.database)

    def dbt_env(self) -> dict[str, str]:
        """Environment for the dbt subprocess: the same warehouse, one target per backend."""
        if self.is_duckdb:
            return {"SNIPER_DBT_TARGET": "duckdb", "SNIPER_DUCKDB_PATH": str(self.duckdb_path)}
        return {
            "SNIPER_DBT_TARGET": "postgres",
            "SNIPER_PG_HOST": self.url.host or "127.0.0.1",
            "SNIPER_PG_PORT": str(self.url.port or 5432),
            "SNIPER_PG_USER": self.url.username or "postgres",
            "SNIPER_PG_PASSWORD": self.url.password or "",
            "SNIPER_PG_DATABASE": self.url.database or "postgres",
        }

    def redacted(self) -> str:
        return self.url.render_as_string(hide_password=True)


def warehouse_location(url: str | None = None) -> WarehouseLocation:
    raw = url or os.environ.get(ENV_VAR)
    if not raw:
        raw = f"duckdb:///{(data_dir() / 'sniper.duckdb').resolve()}"
    parsed = make_url(raw)
    backend = parsed.get_backend_name()
    if backend not in ("duckdb", "postgresql"):
        raise ValueError(
            f"{ENV_VAR}: unsupported backend {backend!r}; use duckdb:///PATH or postgresql+psycopg://"
        )
    if backend == "duckdb" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        parsed = parsed.set(database=str(Path(parsed.database).expanduser().resolve()))
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return WarehouseLocation(parsed)
