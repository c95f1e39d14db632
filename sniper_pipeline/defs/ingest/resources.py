"""Resources: the CoinGlass client (live or replay differ only by base URL) and the warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from pydantic import Field, PrivateAttr
from sqlalchemy import Engine

from sniper_pipeline.coinglass.client import CoinGlassClient
from sniper_pipeline.coinglass.ratelimit import FileRateLimiter, RateLimiter, RedisRateLimiter
from sniper_pipeline.ingest.runtime import API_KEY_ENV, REPLAY_API_KEY, Runtime
from sniper_pipeline.settings.paths import data_dir
from sniper_pipeline.warehouse.engine import make_engine
from sniper_pipeline.warehouse.kept_open import kept_open
from sniper_pipeline.warehouse.url import ENV_VAR as WAREHOUSE_ENV
from sniper_pipeline.warehouse.url import url_from_environment, warehouse_location


def default_rate_state() -> str:
    return str(data_dir() / "coinglass-rate-limit.json")


class CoinGlassResource(dg.ConfigurableResource):
    """CoinGlass v4 over HTTP; against the replay server only `base_url` differs."""

    base_url: str
    api_key: str = Field(
        description="CG-API-KEY; live bound to EnvVar('CG_API_KEY'), never logged; replay a placeholder"
    )
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    max_retries: int = 5
    max_rate_limit_retries: int = 20
    max_retry_seconds: float = 120.0
    requests_per_minute: int = Field(80, description="the plan's limit: 30, 80, 300 or 1200")
    rate_window_s: float = Field(
        60.0, description="the server's counting window; shorter only against a replay server in tests"
    )
    rate_limit_state: str | None = None  # shared limiter state file; default under data/
    rate_limit_url: str | None = Field(
        None, description="Redis URL of a limiter shared across hosts (Celery); else the file"
    )

    def limiter(self) -> RateLimiter:
        """One budget per API key: a Redis key for workers on several hosts, else a file for the
        processes of this host (steps, sensors, the CLI)."""
        if self.rate_limit_url:
            return RedisRateLimiter(
                self.rate_limit_url, self.requests_per_minute, window_s=self.rate_window_s
            )
        return FileRateLimiter(
            self.rate_limit_state or default_rate_state(),
            self.requests_per_minute,
            window_s=self.rate_window_s,
        )

    def client(self) -> CoinGlassClient:
        """A client whose clock follows the server's `Date` (the replay server's simulated now)."""
        limiter = self.limiter()
        client = CoinGlassClient(
            self.base_url,
            self.api_key,
            timeout=(self.connect_timeout_s, self.read_timeout_s),
            max_retries=self.max_retries,
            max_rate_limit_retries=self.max_rate_limit_retries,
            max_retry_seconds=self.max_retry_seconds,
            rate_limiter=limiter,
        )
        client.sync_clock()
        return client


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse URL (DuckDB file or PostgreSQL); engines use NullPool. A DuckDB file stays
    open in the process while the resource lives (a run's steps, see `kept_open`)."""

    url: str
    # One engine while the resource lives: `make_engine` creates the schema, which costs a
    # round of table checks; a scan asks for the engine a dozen times.
    _engine: Engine | None = PrivateAttr(default=None)

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[WarehouseResource]:
        location = warehouse_location(self.url)
        with kept_open(location):
            self._engine = make_engine(location)
            try:
                yield self
            finally:
                self._engine = None

    def engine(self) -> Engine:
        if self._engine is not None:
            return self._engine
        return make_engine(warehouse_location(self.url))


def _warehouse_url(runtime: Runtime) -> str | dg.EnvVar:
    """Bound to SNIPER_WAREHOUSE_URL when that is where the URL came from, so a PostgreSQL
    password is not stored with the run's config or shown in the UI."""
    if runtime.warehouse.url.password and url_from_environment(runtime.warehouse):
        return dg.EnvVar(WAREHOUSE_ENV)
    return runtime.warehouse.url.render_as_string(hide_password=False)


def build_resources(runtime: Runtime) -> dict[str, dg.ConfigurableResource]:
    return {
        "coinglass": CoinGlassResource(
            base_url=runtime.base_url,
            # Live: bound to the env var, so the key never shows in the UI or the run storage.
            # Replay: the placeholder, no secret, so nothing has to put a key into the environment.
            api_key=dg.EnvVar(API_KEY_ENV) if runtime.profile == "live" else REPLAY_API_KEY,
            requests_per_minute=runtime.requests_per_minute,
            rate_window_s=runtime.rate_window_s,
            # Bound to the env var: the URL (maybe with a password) is not shown in the UI.
            rate_limit_url=dg.EnvVar(runtime.rate_limit_env) if runtime.rate_limit_env else None,
        ),
        "warehouse": WarehouseResource(url=_warehouse_url(runtime)),
    }


def area_defs(runtime: Runtime) -> dg.Definitions:
    return dg.Definitions(resources=build_resources(runtime))
