"""The warehouse location: `SNIPER_WAREHOUSE_URL`, else the DuckDB file `data/sniper.duckdb`."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from sniper_pipeline.settings.errors import ConfigError
from sniper_pipeline.settings.paths import data_dir

ENV_VAR = "SNIPER_WAREHOUSE_URL"
_FORMS = "use duckdb:///PATH or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB"


class WarehouseUrlError(ConfigError, ValueError):
    """A bad warehouse URL (exit 2 in the CLI). Also a ValueError: older callers catch that."""


@dataclass(frozen=True)
class WarehouseLocation:
    url: URL

    @property
    def is_duckdb(self) -> bool:
        return self.url.get_backend_name() == "duckdb"

    @property
    def is_file(self) -> bool:
        """A DuckDB file: a path to check and to lock beside (warehouse_location refuses
        `:memory:`, but a location may be built by hand)."""
        return self.is_duckdb and bool(self.url.database) and self.url.database != ":memory:"

    @property
    def duckdb_path(self) -> Path:
        assert self.is_duckdb and self.url.database
        return Path(self.url.database)

    def dbt_connection(self) -> dict[str, str | int]:
        """The connection fields of dbt's output for this warehouse (dbt/profiles.yml has the
        rest); the target is named after the backend: "duckdb" or "postgres"."""
        if self.is_duckdb:
            return {"path": str(self.duckdb_path)}
        return {
            "host": self.url.host or "127.0.0.1",
            "port": self.url.port or 5432,
            "user": self.url.username or "postgres",
            "password": self.url.password or "",
            "dbname": self.url.database or "postgres",
        }

    @property
    def dbt_target(self) -> str:
        return "duckdb" if self.is_duckdb else "postgres"

    def redacted(self) -> str:
        return self.url.render_as_string(hide_password=True)

    def check_writable(self) -> None:
        """Raise WarehouseUrlError unless a DuckDB file can be created or written at the path.

        Checked up front so a command stops with one line instead of DuckDB's traceback from
        deep inside a job. PostgreSQL is reached over the network: nothing to check here."""
        if not self.is_file:
            return
        path = self.duckdb_path
        folder = path.parent
        if not folder.exists():
            raise WarehouseUrlError(f"{ENV_VAR}: the folder {folder} does not exist (create it first)")
        if not folder.is_dir():
            raise WarehouseUrlError(f"{ENV_VAR}: {folder} is not a folder")
        if path.exists():
            if not path.is_file():
                raise WarehouseUrlError(f"{ENV_VAR}: {path} is not a file")
            if not os.access(path, os.R_OK | os.W_OK):
                raise WarehouseUrlError(f"{ENV_VAR}: {path} is not writable")
            return
        # os.access says yes to root on a read-only mount: creating a file is the real test.
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".sniper-probe-"):
                pass
        except OSError as exc:
            raise WarehouseUrlError(f"{ENV_VAR}: cannot create files in {folder}: {exc.strerror}") from None


def warehouse_location(url: str | None = None) -> WarehouseLocation:
    """Parse the URL (argument, else the environment, else the default file under the data
    folder); raises WarehouseUrlError naming the variable, never echoing a password."""
    raw = url or os.environ.get(ENV_VAR)
    default = not raw
    if not raw:
        raw = f"duckdb:///{(data_dir() / 'sniper.duckdb').resolve()}"
    try:
        parsed = make_url(raw)
        backend = parsed.get_backend_name()
    except (ArgumentError, ValueError):
        raise WarehouseUrlError(f"{ENV_VAR}: not a database URL; {_FORMS}") from None
    if backend not in ("duckdb", "postgresql"):
        raise WarehouseUrlError(f"{ENV_VAR}: unsupported backend {backend!r}; {_FORMS}")
    if backend == "duckdb":
        if not parsed.database or parsed.database == ":memory:":
            # Every command connects and disconnects (NullPool): in memory, nothing would survive.
            raise WarehouseUrlError(f"{ENV_VAR}: a DuckDB URL needs a file path; {_FORMS}")
        path = Path(parsed.database).expanduser().resolve()
        if default:
            # The default folder is the project's own; a folder named in the URL must exist
            # (a typo there should not silently start an empty warehouse elsewhere).
            path.parent.mkdir(parents=True, exist_ok=True)
        parsed = parsed.set(database=str(path))
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return WarehouseLocation(parsed)


def url_from_environment(location: WarehouseLocation) -> bool:
    """True when `ENV_VAR` names this very warehouse: configuration can then refer to the
    variable (a Dagster EnvVar) instead of holding the URL and its password."""
    raw = os.environ.get(ENV_VAR)
    try:
        # Parsed as the location was (a bare postgresql:// gets its driver), so equal URLs match.
        return bool(raw) and warehouse_location(raw).url == location.url
    except WarehouseUrlError:
        return False
